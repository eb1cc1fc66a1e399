"""The runtime against the real PostgreSQL and Kafka: outbox relay, inbox, record processing."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from crm_contracts import CloudEvent, command, identity
from crm_runtime import db, inbox, outbox
from crm_runtime.consuming import RecordProcessor
from crm_runtime.handling import HandlerContext, Handlers
from crm_runtime.outbox import OutboxRelay

pytestmark = pytest.mark.stack

SERVICE = "runtimetest"


@pytest.fixture(scope="module")
async def pool(stack):
    admin = await asyncpg.connect(stack.admin_url)
    name = "crm_runtime_test_" + uuid.uuid4().hex[:8]
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = stack.admin_url.rsplit("/", 1)[0] + "/" + name
    pool = await db.create_pool(dsn)
    async with pool.acquire() as conn:
        await db.migrate(conn, [("runtime", db.migrations_of("crm_runtime"))])
    yield pool
    await pool.close()
    await admin.execute(f'DROP DATABASE "{name}"')
    await admin.close()


@pytest.fixture(scope="module")
async def broker(stack):
    b = KafkaBroker(stack.bootstrap, enable_idempotence=True, acks="all")
    await b.connect()
    yield b
    await b.stop()


def group_created(account_id: str, group_id: str) -> CloudEvent:
    # A type no service acts on, so publishing it in tests disturbs nobody.
    return command(identity.GroupCreated(group_id=group_id, name=group_id, parent_group_id=None),
                   source="crm/runtimetest", accountid=account_id)


async def test_migrations_run_once(pool):
    async with pool.acquire() as conn:
        assert await db.migrate(conn, [("runtime", db.migrations_of("crm_runtime"))]) == []


async def test_inbox_claims_a_message_once(pool):
    message = group_created("acc_x", "g")
    async with pool.acquire() as conn:
        assert await inbox.claim(conn, SERVICE, message) is True
        assert await inbox.claim(conn, SERVICE, message) is False
        assert await inbox.claim(conn, "another-consumer", message) is True


async def test_relay_waits_for_a_row_that_commits_out_of_order_and_skips_nothing(pool, broker, bus,
                                                                                account_id):
    relay = OutboxRelay(SERVICE, pool, broker)
    first, second = group_created(account_id, "first"), group_created(account_id, "second")
    slow = await pool.acquire()
    tx = slow.transaction()
    await tx.start()
    await outbox.stage(slow, SERVICE, first)  # takes the lower id, commits last
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, second)
    try:
        # `second` is committed but an older transaction is open: publishing it now could
        # leave `first` behind it; the relay holds back.
        assert await relay.publish_pending() == 0
    finally:
        await tx.commit()
        await pool.release(slow)
    assert await relay.publish_pending() == 2
    records = await bus.wait_for(lambda r: r.key == account_id, count=2)
    assert [r.event.id for r in records] == [first.id, second.id]
    assert all(r.headers["ce_type"] == "identity.group.created" for r in records)
    assert await relay.backlog() == 0


async def test_relay_crash_between_publish_and_mark_republishes_instead_of_losing(pool, broker, bus,
                                                                                  account_id):
    event = group_created(account_id, "g1")
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, event)

    class CrashingRelay(OutboxRelay):
        async def _mark_published(self, conn, ids):
            raise ConnectionResetError("connection lost before the rows were marked")

    with pytest.raises(ConnectionResetError):
        await CrashingRelay(SERVICE, pool, broker).publish_pending()
    await bus.wait_for(lambda r: r.key == account_id)
    assert await pool.fetchval("SELECT published_at FROM outbox WHERE event_id = $1", event.id) is None

    assert await OutboxRelay(SERVICE, pool, broker).publish_pending() == 1
    copies = await bus.wait_for(lambda r: r.key == account_id, count=2)
    assert {r.event.id for r in copies} == {event.id}  # a duplicate, which consumers de-duplicate
    assert await pool.fetchval("SELECT published_at FROM outbox WHERE event_id = $1", event.id) is not None


def record_of(event: CloudEvent, offset: int = 0) -> ConsumerRecord:
    value = event.to_json()
    return ConsumerRecord(topic=event.topic, partition=0, offset=offset, timestamp=0, timestamp_type=0,
                          key=event.key.encode(), value=value, checksum=None, serialized_key_size=0,
                          serialized_value_size=len(value), headers=())


def group_create(account_id: str) -> CloudEvent:
    return command(identity.CreateGroup(group_id="g", name="Office", parent_group_id=None),
                   source="test", accountid=account_id)


async def test_transient_failures_are_retried_not_dead_lettered(pool, broker, bus, account_id):
    calls = []
    handlers = Handlers()

    @handlers.on(identity.CreateGroup)
    async def flaky(ctx: HandlerContext, cmd) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("database went away")

    processor = RecordProcessor(SERVICE, handlers, broker, group="g", attempts=2, max_delay=0.05)
    processor.pool = pool
    outcome = await processor.process(record_of(group_create(account_id)))
    assert outcome.name == "handled" and len(calls) == 3
    await bus.quiet(1)
    assert not bus.matching(lambda r: r.topic.endswith(".dlq") and r.key == account_id)


async def test_a_handler_that_keeps_failing_is_dead_lettered_and_its_writes_rolled_back(
        pool, broker, bus, account_id):
    handlers = Handlers()

    @handlers.on(identity.CreateGroup)
    async def broken(ctx: HandlerContext, cmd) -> None:
        await ctx.conn.execute("CREATE TABLE IF NOT EXISTS scratch (v text)")
        await ctx.conn.execute("INSERT INTO scratch VALUES ('written')")
        raise KeyError("a bug")

    processor = RecordProcessor(SERVICE, handlers, broker, group="g", attempts=3, max_delay=0.05)
    processor.pool = pool
    message = group_create(account_id)
    outcome = await processor.process(record_of(message, offset=42))
    assert outcome.name == "dead_lettered"
    [dead] = await bus.wait_for(lambda r: r.topic == "identity.commands.v1.dlq" and r.key == account_id)
    assert dead.headers["dlq_reason"] == "handler_error"
    assert "a bug" in dead.headers["dlq_error"] and dead.headers["dlq_source_offset"] == "42"
    assert dead.event.id == message.id
    assert await pool.fetchval("SELECT to_regclass('scratch')") is None
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", message.id) == 0


async def test_a_redelivered_record_is_handled_once(pool, broker, account_id):
    calls = []
    handlers = Handlers()

    @handlers.on(identity.CreateGroup)
    async def count(ctx: HandlerContext, cmd) -> None:
        calls.append(ctx.message.id)

    processor = RecordProcessor(SERVICE, handlers, broker, group="g")
    processor.pool = pool
    record = record_of(group_create(account_id))
    outcomes = [(await processor.process(record)).name for _ in range(3)]
    assert outcomes == ["handled", "duplicate", "duplicate"] and len(calls) == 1
    await asyncio.sleep(0)
