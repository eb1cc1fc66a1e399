"""`crm`: publish commands, watch topics, trace a flow, handle dead letters, see lag and health,
mint a development token.

Exit codes: 0 done; 1 the command was rejected or an awaited answer did not come; 2 bad input
(unknown type or topic, data outside the contract); 3 the cluster or a service did not answer.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.tree import Tree

from crm_contracts import MESSAGES, TOPICS, CloudEvent, command, record_headers

from . import kafka, tokens
from .connection import Cluster
from .common import BOOTSTRAP, console, err, print_record, run, since_ms
from .dead_letters import dlq
from .health import lag, status
from .lines import describe, style_of
from .offsets import offsets_app
from .outbox_rows import outbox_app
from .topics import topics_app

app = typer.Typer(help="Operate crm-platform: publish, watch, trace, dead letters, outbox, topics, lag, status, token.",
                  no_args_is_help=True)


def _version(asked: bool) -> None:
    if asked:
        console.print(f"crm {version('crm-cli')} · contract crm-contracts {version('crm-contracts')}")
        raise typer.Exit()


@app.callback()
def _options(show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                               help="the CLI's version and the contract's, then exit")) -> None:
    pass


app.add_typer(dlq, name="dlq")
app.add_typer(outbox_app, name="outbox")
app.add_typer(topics_app, name="topics")
app.add_typer(offsets_app, name="offsets")
app.command()(lag)
app.command()(status)

# --- publish --------------------------------------------------------------------------------------


@app.command()
def publish(type_: str = typer.Argument(..., metavar="TYPE", help="e.g. identity.account.create"),
            account: str = typer.Option(..., "--account", help="the accountid (tenant)"),
            instance: str | None = typer.Option(None, "--instance"),
            data: str | None = typer.Option(None, "--data", help="the data as JSON"),
            file: Path | None = typer.Option(None, "--file", help="a file holding the data as JSON"),
            wait: bool = typer.Option(False, "--wait", help="print the events it caused, or its rejection"),
            timeout: float = typer.Option(10.0, help="with --wait: how long to wait for the first answer"),
            bootstrap: str | None = BOOTSTRAP) -> None:
    """Build a CloudEvent from the contract, check it, publish it to its topic and key."""
    spec = MESSAGES.get(type_)
    if spec is None:
        commands = [t for t, m in MESSAGES.items() if m.topic.direction.value == "commands"]
        close = [t for t in commands if t.split(".")[0] == type_.split(".")[0]] or commands
        err.print(f"[red]unknown type {type_!r}[/]. Known: {', '.join(sorted(close))}")
        raise typer.Exit(2)
    if (data is None) == (file is None):
        err.print("[red]give the data with either --data JSON or --file F[/]")
        raise typer.Exit(2)
    try:
        raw = json.loads(data if data is not None else file.read_text())  # type: ignore[union-attr]
        model = spec.model.model_validate(raw)
    except (ValueError, OSError) as exc:
        if isinstance(exc, ValidationError):
            err.print(f"[red]{type_}: the data does not fit the contract; nothing was sent[/]")
            for e in exc.errors():
                err.print(f"  {'.'.join(str(p) for p in e['loc']) or '(data)'}: {e['msg']}")
        else:
            err.print(f"[red]cannot read the data: {exc}; nothing was sent[/]")
        raise typer.Exit(2) from None
    message = command(model, source="crm-cli", accountid=account, instanceid=instance)
    run(_publish(Cluster.from_env(bootstrap), message, wait, timeout))


async def _publish(cluster: Cluster, message: CloudEvent, wait: bool, timeout: float) -> int:
    answers = [t.name for t in TOPICS.values() if t.direction.value == "events"]
    async with contextlib.AsyncExitStack() as stack:
        answer_tail = await stack.enter_async_context(kafka.tail(cluster, answers)) if wait else None
        async with kafka.started(kafka.producer(cluster)) as producer:
            await producer.send_and_wait(message.topic, message.to_json(), key=message.key.encode(),
                                         headers=record_headers(message.type))
        console.print(f"→ {describe(message)}  [dim](id {message.id}, {message.topic})[/]")
        return 0 if answer_tail is None else await _answers(answer_tail, message, timeout)


async def _answers(answer_tail: kafka.Tail, message: CloudEvent, timeout: float) -> int:
    """Print what `message` caused, until 2 s pass without another of its answers."""
    deadline = time.monotonic() + timeout
    seen = rejected = False
    while (left := deadline - time.monotonic()) > 0:
        for rec in await answer_tail.batch(min(left, 0.2)):
            if rec.event is not None and rec.event.correlationid == message.id:
                seen = True
                rejected = rejected or rec.event.type.endswith(".command.rejected")
                deadline = time.monotonic() + 2.0
                print_record(rec, False)
    if not seen:
        err.print(f"[red]no answer to {message.id} within {timeout:.0f}s[/]")
    return 0 if seen and not rejected else 1


# --- watch ----------------------------------------------------------------------------------------


@app.command()
def watch(topics: list[str] = typer.Argument(None, help="topics to watch (default: every topic and .dlq)"),
          account: str | None = typer.Option(None, "--account"),
          instance: str | None = typer.Option(None, "--instance"),
          type_glob: str | None = typer.Option(None, "--type", help="a glob, e.g. 'seats.*'"),
          correlation: str | None = typer.Option(None, "--correlation"),
          from_beginning: bool = typer.Option(False, "--from-beginning"),
          since: str | None = typer.Option(None, "--since", help="e.g. 10m, 2h, 1d"),
          as_json: bool = typer.Option(False, "--json", help="one JSON object per line, for scripts"),
          count: int | None = typer.Option(None, "--count", help="stop after this many matching records"),
          idle: float | None = typer.Option(None, "--idle", help="stop after this many seconds without a record"),
          bootstrap: str | None = BOOTSTRAP) -> None:
    """One readable line per record, as it arrives: time, topic, type, account, key fields."""
    names = topics or [n for t in TOPICS.values() for n in (t.name, t.dlq)]
    start: str | int = "beginning" if from_beginning else (since_ms(since) if since else "end")

    def wanted(rec: kafka.Rec) -> bool:
        e = rec.event
        if e is None:
            return not (account or instance or type_glob or correlation)
        return ((account is None or e.accountid == account) and (instance is None or e.instanceid == instance)
                and (type_glob is None or fnmatch.fnmatch(e.type, type_glob))
                and (correlation is None or correlation in (e.correlationid, e.id)))

    async def go() -> int:
        shown = 0
        async for rec in kafka.read(Cluster.from_env(bootstrap), names, start=start, follow=True, idle_s=idle):
            if wanted(rec):
                print_record(rec, as_json)
                shown += 1
                if count is not None and shown >= count:
                    return 0
        return 0

    run(go())


# --- trace ----------------------------------------------------------------------------------------


@app.command()
def trace(correlation: str = typer.Argument(..., help="a correlation id (a command's id)"),
          since: str = typer.Option("1d", "--since", help="how far back to look, e.g. 1h"),
          bootstrap: str | None = BOOTSTRAP) -> None:
    """Every record of one flow across all topics, as a tree by causation, with the time each step took."""

    async def go() -> int:
        flow: list[kafka.Rec] = []
        names = [n for t in TOPICS.values() for n in (t.name, t.dlq)]
        async for rec in kafka.read(Cluster.from_env(bootstrap), names, start=since_ms(since)):
            e = rec.event
            if e is not None and (e.correlationid == correlation or e.id == correlation):
                flow.append(rec)
        if not flow:
            err.print(f"[red]nothing with correlation id {correlation} in the last {since}[/]")
            return 1
        console.print(_tree(correlation, flow))
        return 0

    run(go())


def _tree(correlation: str, flow: list[kafka.Rec]) -> Tree:
    flow.sort(key=lambda r: (r.event.time or 0, r.timestamp_ms))  # type: ignore[union-attr]
    by_id: dict[str, Tree] = {}
    start = min(r.event.time for r in flow if r.event.time)  # type: ignore[union-attr]
    root = Tree(f"[bold]flow {correlation}[/] — {len(flow)} records")
    seen: set[tuple[str, str]] = set()
    for rec in flow:
        e = rec.event
        assert e is not None
        if (e.id, rec.topic) in seen or e.id in by_id:
            continue  # a republished duplicate
        seen.add((e.id, rec.topic))
        parent = by_id.get(e.causationid or "", root)
        at = f"+{(e.time - start).total_seconds() * 1000:,.0f} ms" if e.time else ""
        dead = f" [red]dlq_reason={rec.headers['dlq_reason']}[/]" if "dlq_reason" in rec.headers else ""
        by_id[e.id] = parent.add(f"[{style_of(rec.topic, e.type)}]{e.type}[/] {at} "
                                 f"[dim]{rec.topic}[/]{dead} {describe(e).split(e.accountid, 1)[-1].strip()}")
    return root


@app.command()
def token(user: str = typer.Argument(..., help="the user id the token acts for (its subject)"),
          operator: bool = typer.Option(False, "--operator", help=f"add the {tokens.OPERATOR_SCOPE} scope: read any account"),
          ttl: int = typer.Option(300, "--ttl", help="seconds the token is valid"),
          key: Path = typer.Option(Path(".run/auth") / tokens.PRIVATE_FILE, "--key", envvar="CRM_AUTH_SIGNING_KEY",
                                   help="the development signing key `make up` created"),
          issuer: str = typer.Option(tokens.DEV_ISSUER, envvar="CRM_AUTH_ISSUER"),
          audience: str = typer.Option(tokens.DEV_AUDIENCE, envvar="CRM_AUTH_AUDIENCE")) -> None:
    """Print a short-lived bearer token signed with the local stack's development key, e.g.
    curl -H "Authorization: Bearer $(crm token u-1)" :8003/v1/notifications?user_id=u-1"""
    if not key.is_file():
        err.print(f"[red]no signing key at {key}[/]: run `make up` first, or pass --key")
        raise typer.Exit(2)
    if ttl <= 0 or ttl > 86400:
        err.print("[red]--ttl must be between 1 and 86400 seconds[/]")
        raise typer.Exit(2)
    print(tokens.mint(key, user, ttl_s=ttl, operator=operator, issuer=issuer, audience=audience))



if __name__ == "__main__":
    sys.exit(app())
