"""`crm outbox`: events a service's outbox relay set aside — list, requeue."""

from __future__ import annotations

import json

import os

import typer

from crm_runtime import outbox

from .common import JSON, SERVICES, console, err, run

outbox_app = typer.Typer(help="Events a service's outbox relay set aside: list, requeue.", no_args_is_help=True)


def _database(service: str, url: str | None) -> str:
    if service not in SERVICES:
        err.print(f"[red]no service {service!r}; they are {', '.join(SERVICES)}[/]")
        raise typer.Exit(2)
    # The local stack: the service's own role on its own database (trust on loopback).
    return url or os.environ.get(f"CRM_{service.upper()}_DATABASE_URL") or \
        f"postgresql://crm_{service}@127.0.0.1:5433/crm_{service}"


DATABASE = typer.Option(None, "--database-url", help="the service's database (default CRM_<SERVICE>_DATABASE_URL, "
                                                     "else the local stack's)")


async def _connect(url: str):
    import asyncpg

    try:
        return await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        err.print(f"[red]cannot reach the database[/] {url.split('@')[-1]}: {exc}")
        return None


@outbox_app.command("list")
def outbox_list(service: str, database_url: str | None = DATABASE, as_json: bool = JSON) -> None:
    """Every event the service's relay set aside (the broker can never take it), with why."""
    url = _database(service, database_url)

    async def go() -> int:
        if (conn := await _connect(url)) is None:
            return 3
        try:
            rows = await outbox.dead_rows(conn)
        finally:
            await conn.close()
        if as_json:
            for r in rows:
                print(json.dumps(dict(r), default=str), flush=True)
            return 0
        # One line a row, ids in full: what `requeue --id` takes and grep finds.
        for r in rows:
            console.print(f"{r['id']}  {r['event_id']}  {r['type']}  {r['topic']}  {r['size']} bytes  set aside "
                          f"{r['set_aside_at'].isoformat(timespec='seconds')}  {r['error'][:200]}", markup=False)
        console.print(f"{len(rows)} set aside")
        return 0

    run(go())


@outbox_app.command("requeue")
def outbox_requeue(service: str, ids: list[int] = typer.Option(None, "--id", help="only these rows (repeatable)"),
                   database_url: str | None = DATABASE) -> None:
    """Put set-aside events back in the outbox (once the cause is fixed): the relay publishes them
    with their ids, so a consumer that saw one already drops it."""
    url = _database(service, database_url)

    async def go() -> int:
        if (conn := await _connect(url)) is None:
            return 3
        try:
            moved = await outbox.requeue_dead(conn, service, ids or None)
        finally:
            await conn.close()
        console.print(f"{moved} events back in the outbox of {service}")
        return 0 if moved else 1

    run(go())


