"""What the runtime's tests against the live stack share."""

from __future__ import annotations

import json

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from crm_contracts import CloudEvent, Topic, command, identity
from crm_runtime.batches import BatchProcessor
from crm_runtime.handlers import HandlerContext, Handlers, Rejected
from crm_runtime.settings import ServiceSettings
from crm_testing.records import consumer_record

SERVICE = "runtimetest"


def group_created(account_id: str, group_id: str) -> CloudEvent:
    # A type no service acts on, so publishing it in tests disturbs nobody.
    return command(identity.GroupCreated(group_id=group_id, name=group_id, parent_group_id=None),
                   source="crm/runtimetest", accountid=account_id)


def group_create(account_id: str, group_id: str = "g") -> CloudEvent:
    return command(identity.CreateGroup(group_id=group_id, name="Office", parent_group_id=None),
                   source="test", accountid=account_id)


def batch_of(items: list[CloudEvent | bytes], key: str) -> list[ConsumerRecord]:
    # Headers a sender may add, odd bytes and an empty value among them, travel untouched.
    return [consumer_record(item, offset=100 + i, key=key, headers=[("trace", b"\xff\xfe"), ("empty", None)])
            for i, item in enumerate(items)]


class Behaviours:
    """A CreateGroup handler whose behaviour is chosen by the command's group_id."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failures_left: dict[str, int] = {}
        self.handlers = Handlers()
        self.handlers.on(identity.CreateGroup)(self.handle)

    async def handle(self, ctx: HandlerContext, cmd: identity.CreateGroup) -> None:
        kind = cmd.group_id.split("-")[0]
        self.calls.append(cmd.group_id)
        # Every behaviour writes first, so a rollback that does not happen shows in `scratch`.
        await ctx.conn.execute("INSERT INTO scratch (group_id) VALUES ($1)", cmd.group_id)
        if kind == "reject":
            raise Rejected("group_taken", "that group exists")
        if kind == "bug":
            raise KeyError("a bug")
        if kind == "oserror":  # raised by handler code, the connection is fine: not an outage
            raise ConnectionRefusedError("a bug that looks like an outage")
        if kind == "overflow":
            await ctx.conn.execute("UPDATE scratch SET n = $1 WHERE group_id = $2", 3_000_000_000, cmd.group_id)
        if kind == "serialization" and self.failures_left.setdefault(cmd.group_id, 2) > 0:
            self.failures_left[cmd.group_id] -= 1
            raise asyncpg.exceptions.SerializationError("could not serialize access")
        if kind == "slow":  # always longer than its statement timeout
            await ctx.conn.execute("SET LOCAL statement_timeout = '50ms'")
            await ctx.conn.execute("SELECT pg_sleep(1)")
        if kind == "locked":
            await ctx.conn.execute("SET LOCAL lock_timeout = '100ms'")
            await ctx.conn.execute("LOCK TABLE held_lock IN ACCESS EXCLUSIVE MODE")
        if kind == "killed" and self.failures_left.setdefault(cmd.group_id, 1) > 0:
            self.failures_left[cmd.group_id] -= 1
            await ctx.conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        await ctx.emit(identity.GroupCreated(group_id=cmd.group_id, name=cmd.name, parent_group_id=None))


def processor(pool, producer, behaviours: Behaviours, attempts: int = 3, timeout_attempts: int = 5,
              settings: ServiceSettings | None = None) -> BatchProcessor:
    settings = (settings or ServiceSettings()).model_copy(update={
        "handler_attempts": attempts, "retry_max_delay_s": 0.2, "timeout_attempts": timeout_attempts})
    return BatchProcessor(SERVICE, behaviours.handlers, producer, group="g", settings=settings, pool=pool)


async def scratch(pool, account: str) -> set[str]:
    return {r["group_id"] for r in await pool.fetch("SELECT group_id FROM scratch WHERE group_id LIKE $1",
                                                    f"%-{account}")}


async def outbox_types(pool, correlations: list[str]) -> list[str]:
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    events = [json.loads(r["payload"]) for r in rows]
    return [(e["correlationid"], e["type"]) for e in events if e.get("correlationid") in correlations]


async def start_group_at_the_end(bootstrap: str, group: str, topic: Topic) -> dict[TopicPartition, int]:
    """The group begins at the topic's current end, so only this test's records reach it."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        tps = [TopicPartition(topic.name, p) for p in c.partitions_for_topic(topic.name) or await partitions_of(c, topic)]
        c.assign(tps)
        ends = await c.end_offsets(tps)
        await c.commit(ends)
        return ends
    finally:
        await c.stop()


async def partitions_of(c: AIOKafkaConsumer, topic: Topic) -> set[int]:
    await c._client.force_metadata_update()  # noqa: SLF001
    return c.partitions_for_topic(topic.name) or set()
