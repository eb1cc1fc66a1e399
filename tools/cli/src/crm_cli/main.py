"""`crm`: publish commands, watch topics, trace a flow, handle dead letters, see lag and health,
mint a development token.

Exit codes: 0 done; 1 the command was rejected or an awaited answer did not come; 2 bad input
(unknown type or topic, data outside the contract); 3 the cluster or a service did not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
import os
import re
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.tree import Tree

from crm_contracts import MESSAGES, TOPICS, CloudEvent, command
from crm_runtime import outbox

from . import kafka, tokens
from .connection import Cluster
from .lines import describe, style_of

app = typer.Typer(help="Operate crm-platform: publish, watch, trace, dead letters, lag, status, token.",
                  no_args_is_help=True)
dlq = typer.Typer(help="Dead letters: list, show, replay.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")
outbox_app = typer.Typer(help="Events a service's outbox relay set aside: list, requeue.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
# aiokafka reports each refused connection itself; the command says it once, with what to do.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

BOOTSTRAP = typer.Option(None, "--bootstrap", "-b", envvar="CRM_KAFKA_BOOTSTRAP_SERVERS",
                         help="Kafka bootstrap servers (SASL/TLS: see CRM_KAFKA_* in the README)")
SERVICES = {"identity": 8001, "seats": 8002, "notifications": 8003, "routing": 8004}


def _run(work: Coroutine[Any, Any, int | None]) -> None:
    """Run a command; turn what a person can act on into one line and an exit code."""
    try:
        code = asyncio.run(work)
    except kafka.Unreachable as exc:
        err.print(f"[red]cannot reach Kafka[/]: {exc}. Is it running (make up), or are --bootstrap / "
                  "CRM_KAFKA_* right?")
        raise typer.Exit(3) from None
    except kafka.UnknownTopic as exc:
        err.print(f"[red]{exc}[/]. Topics of the contract: {', '.join(sorted(TOPICS))} (and each .dlq)")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(code or 0)


def _since_ms(since: str) -> int:
    m = re.fullmatch(r"(\d+)([smhd])", since)
    if not m:
        raise typer.BadParameter("use a number and s, m, h or d, e.g. 10m")
    seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return int((time.time() - seconds) * 1000)


def _print(rec: kafka.Rec, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"topic": rec.topic, "partition": rec.partition, "offset": rec.offset, "key": rec.key,
                          "headers": rec.headers,
                          "event": rec.event.model_dump(mode="json") if rec.event else None,
                          "value": None if rec.event else (rec.value or b"").decode("utf-8", "replace")}),
              flush=True)
        return
    if rec.event is None:
        reason = rec.headers.get("dlq_reason", "unreadable")
        console.print(f"{'':12}  {rec.topic:<34} key={rec.key} dlq_reason={reason} "
                      f"error={rec.headers.get('dlq_error', '')[:120]}", style=style_of(rec.topic, None))
        return
    extra = f" dlq_reason={rec.headers['dlq_reason']}" if "dlq_reason" in rec.headers else ""
    console.print(f"{rec.topic:<26} {describe(rec.event)}{extra}", style=style_of(rec.topic, rec.event.type))


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
    _run(_publish(Cluster.from_env(bootstrap), message, wait, timeout))


async def _publish(cluster: Cluster, message: CloudEvent, wait: bool, timeout: float) -> int:
    answers = [t.name for t in TOPICS.values() if t.direction.value == "events"]
    async with contextlib.AsyncExitStack() as stack:
        answer_tail = await stack.enter_async_context(kafka.tail(cluster, answers)) if wait else None
        async with kafka.started(kafka.producer(cluster)) as producer:
            await producer.send_and_wait(message.topic, message.to_json(), key=message.key.encode(),
                                         headers=[("ce_type", message.type.encode())])
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
                _print(rec, False)
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
    start: str | int = "beginning" if from_beginning else (_since_ms(since) if since else "end")

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
                _print(rec, as_json)
                shown += 1
                if count is not None and shown >= count:
                    return 0
        return 0

    _run(go())


# --- trace ----------------------------------------------------------------------------------------


@app.command()
def trace(correlation: str = typer.Argument(..., help="a correlation id (a command's id)"),
          since: str = typer.Option("1d", "--since", help="how far back to look, e.g. 1h"),
          bootstrap: str | None = BOOTSTRAP) -> None:
    """Every record of one flow across all topics, as a tree by causation, with the time each step took."""

    async def go() -> int:
        flow: list[kafka.Rec] = []
        names = [n for t in TOPICS.values() for n in (t.name, t.dlq)]
        async for rec in kafka.read(Cluster.from_env(bootstrap), names, start=_since_ms(since)):
            e = rec.event
            if e is not None and (e.correlationid == correlation or e.id == correlation):
                flow.append(rec)
        if not flow:
            err.print(f"[red]nothing with correlation id {correlation} in the last {since}[/]")
            return 1
        console.print(_tree(correlation, flow))
        return 0

    _run(go())


def _tree(correlation: str, flow: list[kafka.Rec]) -> Tree:
    flow.sort(key=lambda r: (r.event.time or 0, r.timestamp_ms))  # type: ignore[union-attr]
    by_id: dict[str, Tree] = {}
    start = min(r.event.time for r in flow if r.event.time)  # type: ignore[union-attr,type-var]
    root = Tree(f"[bold]flow {correlation}[/] — {len(flow)} records")
    seen: set[str] = set()
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


# --- dead letters ---------------------------------------------------------------------------------


def _dlq_topics(topic: str | None) -> list[str]:
    if topic is None:
        return [t.dlq for t in TOPICS.values()]
    return [topic if topic.endswith(".dlq") else f"{topic}.dlq"]


@dlq.command("list")
def dlq_list(topic: str | None = typer.Argument(None, help="a topic or its .dlq (default: all)"),
             bootstrap: str | None = BOOTSTRAP) -> None:
    """Every dead letter with its reason, where it came from and when."""

    async def go() -> int:
        table = Table("dead-letter topic", "p/offset", "reason", "from", "failed at", "error")
        n = 0
        async for rec in kafka.read(Cluster.from_env(bootstrap), _dlq_topics(topic), start="beginning"):
            h = rec.headers
            table.add_row(rec.topic, f"{rec.partition}/{rec.offset}", h.get("dlq_reason", "?"),
                          f"{h.get('dlq_source_topic', '?')} {h.get('dlq_source_partition', '?')}/"
                          f"{h.get('dlq_source_offset', '?')}", h.get("dlq_failed_at", "?"),
                          h.get("dlq_error", "")[:80])
            n += 1
        console.print(table)
        console.print(f"{n} dead letters")
        return 0

    _run(go())


@dlq.command("show")
def dlq_show(topic: str, offset: int, partition: int | None = typer.Option(None, "--partition", "-p"),
             bootstrap: str | None = BOOTSTRAP) -> None:
    """One dead letter: its headers decoded and its value as it was received."""

    async def go() -> int:
        async for rec in kafka.read(Cluster.from_env(bootstrap), _dlq_topics(topic), start="beginning"):
            if rec.offset == offset and (partition is None or rec.partition == partition):
                for k, v in rec.headers.items():
                    console.print(f"[bold]{k}[/]: {v}")
                console.print("[bold]value[/]:")
                console.print((rec.value or b"").decode("utf-8", "replace"), markup=False)
                return 0
        err.print(f"[red]no dead letter at offset {offset} of {_dlq_topics(topic)[0]}[/]")
        return 1

    _run(go())


@dlq.command("replay")
def dlq_replay(topic: str, offset: int | None = typer.Option(None, "--offset"),
               partition: int | None = typer.Option(None, "--partition", "-p"),
               everything: bool = typer.Option(False, "--all", help="replay every dead letter of the topic"),
               dry_run: bool = typer.Option(False, "--dry-run", help="say what would be replayed, send nothing"),
               bootstrap: str | None = BOOTSTRAP) -> None:
    """Publish dead letters back to where they came from, unchanged, with a header naming the replay.

    Replaying a record twice changes nothing: the consuming service's inbox knows its id."""
    if (offset is None) == (not everything):
        err.print("[red]say which: --offset N or --all[/]")
        raise typer.Exit(2)

    async def go() -> int:
        cluster = Cluster.from_env(bootstrap)
        chosen = [r async for r in kafka.read(cluster, _dlq_topics(topic), start="beginning")
                  if everything or (r.offset == offset and (partition is None or r.partition == partition))]
        if not chosen:
            err.print("[red]nothing to replay[/]")
            return 1
        if not everything and len(chosen) > 1:
            # An offset names a record only within its partition.
            err.print(f"[red]offset {offset} is in partitions {', '.join(str(r.partition) for r in chosen)}: "
                      "say which with --partition[/]")
            return 2
        async with kafka.started(kafka.producer(cluster)) as producer:
            with Progress(console=console) as progress:
                task = progress.add_task("replaying", total=len(chosen))
                for rec in chosen:
                    source = rec.headers.get("dlq_source_topic", rec.topic.removesuffix(".dlq"))
                    # Byte for byte as it first arrived: only the dead-letter headers are taken off.
                    headers = [(k, v) for k, v in rec.raw_headers if not k.startswith("dlq_")]
                    headers.append(("crm_replay_of", f"{rec.topic}/{rec.partition}/{rec.offset}".encode()))
                    line = f"{rec.topic} {rec.partition}/{rec.offset} → {source} key={rec.key}"
                    if not dry_run:
                        await producer.send_and_wait(source, rec.value, key=rec.raw_key, headers=headers)
                    progress.console.print(("would replay " if dry_run else "replayed ") + line)
                    progress.advance(task)
        return 0

    _run(go())


# --- the outbox's set-aside rows --------------------------------------------------------------------


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
def outbox_list(service: str, database_url: str | None = DATABASE) -> None:
    """Every event the service's relay set aside (the broker can never take it), with why."""
    url = _database(service, database_url)

    async def go() -> int:
        if (conn := await _connect(url)) is None:
            return 3
        try:
            rows = await outbox.dead_rows(conn)
        finally:
            await conn.close()
        # One line a row, ids in full: what `requeue --id` takes and grep finds.
        for r in rows:
            console.print(f"{r['id']}  {r['event_id']}  {r['type']}  {r['topic']}  {r['size']} bytes  set aside "
                          f"{r['set_aside_at'].isoformat(timespec='seconds')}  {r['error'][:200]}", markup=False)
        console.print(f"{len(rows)} set aside")
        return 0

    _run(go())


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

    _run(go())


# --- lag and status -------------------------------------------------------------------------------


@app.command()
def lag(bootstrap: str | None = BOOTSTRAP) -> None:
    """Records not yet consumed, per consumer group, topic and partition, and per service in total."""

    async def go() -> int:
        cluster = Cluster.from_env(bootstrap)
        table = Table("group", "topic", "partition", "committed", "end", "lag")
        totals: dict[str, int] = {}
        async with kafka.started(kafka.admin(cluster)) as client:
            groups = sorted(g[0] for g in await client.list_consumer_groups() if g[0].startswith("crm-"))
            offsets = {g: await client.list_consumer_group_offsets(g) for g in groups}
        reader = kafka.AIOKafkaConsumer(**cluster.client_args(), enable_auto_commit=False)
        async with kafka.started(reader):
            await reader.topics()  # the cluster's metadata, for every topic's partitions
            # Every partition of each topic a group reads, committed or not: a partition the group
            # has never committed is read from its beginning (the services start at the earliest).
            read_by = {g: sorted({kafka.TopicPartition(tp.topic, p) for tp in o
                                  for p in reader.partitions_for_topic(tp.topic) or ()}) for g, o in offsets.items()}
            tps = sorted({tp for parts in read_by.values() for tp in parts})
            ends = await reader.end_offsets(tps) if tps else {}
            starts = await reader.beginning_offsets(tps) if tps else {}
        for group in groups:
            for tp in read_by[group]:
                done = offsets[group][tp].offset if tp in offsets[group] else starts[tp]
                behind = max(0, ends[tp] - done)
                totals[group] = totals.get(group, 0) + behind
                if behind:
                    table.add_row(group, tp.topic, str(tp.partition), str(done), str(ends[tp]), str(behind))
        console.print(table)
        for group, total in totals.items():
            console.print(f"{group}: {total} behind", style="bold red" if total else "green")
        return 0

    _run(go())


@app.command()
def status(urls: list[str] = typer.Option(None, "--service", help="name=http://host:port (repeatable)"),
           replicas: int = typer.Option(2, help="local replicas to look for (ports +100 each)")) -> None:
    """Each service's /health and key metrics in one table."""
    targets = dict(u.split("=", 1) for u in urls) if urls else {
        (name if r == 1 else f"{name}-{r}"): f"http://127.0.0.1:{port + 100 * (r - 1)}"
        for name, port in SERVICES.items() for r in range(1, replicas + 1)}

    async def go() -> int:
        table = Table("service", "status", "pid", "outbox backlog", "handled", "dead-lettered", "problems")
        unhealthy = 0
        async with httpx.AsyncClient(timeout=3) as client:
            for name, url in targets.items():
                try:
                    health = (await client.get(url + "/health")).json()
                    metrics = (await client.get(url + "/metrics")).text
                except (httpx.HTTPError, ValueError):
                    if "-" not in name:  # a replica that is not running is no news
                        table.add_row(name, "[red]no answer[/]", "-", "-", "-", "-", url)
                        unhealthy += 1
                    continue
                ok = health.get("status") == "ok"
                unhealthy += not ok
                table.add_row(name, "[green]ok[/]" if ok else f"[red]{health.get('status')}[/]", str(health.get("pid")),
                              str(health.get("outbox_backlog", "?")), _sum(metrics, "crm_messages_handled_total"),
                              _sum(metrics, "crm_messages_dead_lettered_total"), "; ".join(health.get("problems", [])))
        console.print(table)
        return 3 if unhealthy else 0

    _run(go())


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


def _sum(metrics: str, name: str) -> str:
    total = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(name + "{"))
    return f"{total:,.0f}"


if __name__ == "__main__":
    sys.exit(app())
