"""`crm offsets`: where each consumer group of the platform stands and, once its services are
stopped, where it starts again.

Kafka forgets an idle group's committed offsets after the broker's `offsets.retention.minutes`;
the services then pause the partitions concerned rather than read their topics again from the
beginning (docs/operations.md, "Offsets"). `crm offsets set GROUP --to recorded` resumes each
partition where the service's own database says the group had got to; `earliest`, `latest` or a
time (ISO 8601) choose otherwise."""

from __future__ import annotations

from datetime import datetime

import typer

from crm_runtime import positions

from . import kafka
from .common import BOOTSTRAP, JSON, SERVICES, Listing, err, run
from .connection import Cluster
from .outbox_rows import DATABASE, _connect, _database

offsets_app = typer.Typer(help="Consumer groups' offsets: show them, or set where a stopped group resumes.",
                          no_args_is_help=True)


def _service_of(group: str, service: str | None) -> str:
    name = service or group.removeprefix("crm-").split("-")[0]
    if name not in SERVICES:
        err.print(f"[red]{group!r} is not a group of the platform's services[/] (crm-<service>[-suffix]); "
                  "name the service with --service")
        raise typer.Exit(2)
    return name


SERVICE = typer.Option(None, "--service", help="whose database holds the group's positions (default: from the "
                                                "group's name, crm-<service>)")


async def _recorded(group: str, service: str | None, database_url: str | None) -> dict[kafka.TopicPartition, int] | None:
    conn = await _connect(_database(_service_of(group, service), database_url))
    if conn is None:
        return None
    try:
        return await positions.recorded(conn, group)
    except Exception as exc:  # e.g. a database from before the copy existed
        err.print(f"[yellow]no recorded positions[/]: {exc}")
        return {}
    finally:
        await conn.close()


async def _state(cluster: Cluster, group: str) -> tuple[str, dict[kafka.TopicPartition, int]]:
    async with kafka.started(kafka.admin(cluster)) as client:
        [response] = await client.describe_consumer_groups([group])
        committed = await client.list_consumer_group_offsets(group)
    # One group asked, one answered: (error_code, group, state, protocol_type, protocol, members).
    state = response.groups[0][2]
    return state, {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}


@offsets_app.command("show")
def show(group: str = typer.Argument(..., help="e.g. crm-notifications"), bootstrap: str | None = BOOTSTRAP,
         service: str | None = SERVICE, database_url: str | None = DATABASE, as_json: bool = JSON) -> None:
    """Per partition: the offset committed on Kafka, the copy in the service's database, the
    partition's first and next offsets. A partition with a copy and nothing on Kafka is lost."""

    async def go() -> int:
        cluster = Cluster.from_env(bootstrap)
        state, committed = await _state(cluster, group)
        recorded = await _recorded(group, service, database_url) or {}
        tps = sorted(set(committed) | set(recorded), key=lambda tp: (tp.topic, tp.partition))
        firsts, ends = await _bounds(cluster, tps)
        listing = Listing("topic", "partition", "committed", "recorded", "first", "end", "lost", as_json=as_json)
        for tp in tps:
            lost = tp in recorded and tp not in committed
            listing.add(tp.topic, tp.partition, committed.get(tp), recorded.get(tp), firsts.get(tp), ends.get(tp),
                        lost if as_json else ("lost" if lost else ""), styles={"lost": "red"})
        listing.say(f"{group}: {state}")
        listing.show()
        return 1 if any(tp in recorded and tp not in committed for tp in tps) else 0

    run(go())


async def _bounds(cluster: Cluster, tps: list) -> tuple[dict, dict]:
    if not tps:
        return {}, {}
    reader = kafka.AIOKafkaConsumer(**cluster.client_args(), enable_auto_commit=False)
    async with kafka.started(reader):
        return await reader.beginning_offsets(tps), await reader.end_offsets(tps)


def choose(to: str, tps: list, recorded: dict, firsts: dict, ends: dict, at_time: dict | None = None) -> dict:
    """Where each partition resumes, always within what the partition still holds."""
    chosen = {}
    for tp in tps:
        if to == "earliest":
            offset = firsts[tp]
        elif to == "latest":
            offset = ends[tp]
        elif to == "recorded":
            if tp not in recorded:
                continue
            offset = recorded[tp]
        else:
            found = (at_time or {}).get(tp)
            offset = found.offset if found is not None else ends[tp]
        chosen[tp] = min(max(offset, firsts[tp]), ends[tp])
    return chosen


@offsets_app.command("set")
def set_offsets(group: str = typer.Argument(..., help="e.g. crm-notifications"),
                to: str = typer.Option(..., "--to", help="recorded | earliest | latest | an ISO 8601 time"),
                topics: list[str] = typer.Option(None, "--topic", help="only these topics (repeatable)"),
                bootstrap: str | None = BOOTSTRAP, service: str | None = SERVICE,
                database_url: str | None = DATABASE, as_json: bool = JSON) -> None:
    """Commit where the group resumes, per partition. The group's services must be stopped (Kafka
    refuses offsets for a group with members); start them again afterwards."""
    when = None
    if to not in ("recorded", "earliest", "latest"):
        try:
            when = datetime.fromisoformat(to)
        except ValueError:
            raise typer.BadParameter("recorded, earliest, latest or an ISO 8601 time") from None
        if when.tzinfo is None:
            raise typer.BadParameter("give the time with its zone, e.g. 2026-12-01T09:00:00+00:00")

    async def go() -> int:
        cluster = Cluster.from_env(bootstrap)
        state, committed = await _state(cluster, group)
        if state not in ("Empty", "Dead"):
            err.print(f"[red]{group} is {state}[/]: stop its services first (Kafka takes offsets only for a "
                      "group without members)")
            return 1
        recorded = await _recorded(group, service, database_url)
        if recorded is None and to == "recorded":
            return 1
        tps = sorted(set(committed) | set(recorded or {}), key=lambda tp: (tp.topic, tp.partition))
        tps = [tp for tp in tps if not topics or tp.topic in topics]
        if not tps:
            err.print(f"[red]nothing known of {group}[/]: no committed offset and no recorded position")
            return 1
        firsts, ends = await _bounds(cluster, tps)
        committer = kafka.AIOKafkaConsumer(**cluster.client_args(), group_id=group, enable_auto_commit=False)
        async with kafka.started(committer):
            committer.assign(tps)
            at_time = await committer.offsets_for_times({tp: int(when.timestamp() * 1000) for tp in tps}) \
                if when else None
            chosen = choose(to, tps, recorded or {}, firsts, ends, at_time)
            await committer.commit(chosen)
        listing = Listing("topic", "partition", "was", "now", "end", as_json=as_json)
        for tp, offset in chosen.items():
            listing.add(tp.topic, tp.partition, committed.get(tp), offset, ends[tp])
        listing.show()
        listing.say(f"{group} resumes there once its services start.")
        return 0

    run(go())
