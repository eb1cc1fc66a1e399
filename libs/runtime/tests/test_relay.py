"""The outbox relay against the real PostgreSQL and Kafka: what commits is published once, in commit
order per key, across passes, crashes, refusals by the broker and a second relay."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from crm_runtime import outbox
from crm_runtime.relay import OutboxRelay, RelaySettings
from crm_devstack.waiting import eventually
from crm_testing.databases import scratch_database
from runtime_helpers import SERVICE, group_created

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
async def pool(stack):
    async with scratch_database(stack, "crm_relay_test") as pool:
        yield pool


@pytest.fixture
async def relay_pool(pool):
    """The shared test database with the batch tests' rows out of the way."""
    await pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    return pool


async def test_a_row_that_commits_after_higher_ids_is_published_by_the_next_pass_not_skipped(
        relay_pool, producer, bus, account_id):
    pool = relay_pool
    relay = OutboxRelay(SERVICE, pool, producer)
    late, early = group_created(account_id, "late"), group_created(account_id, "early")
    slow = await pool.acquire()
    tx = slow.transaction()
    await tx.start()
    await outbox.stage(slow, SERVICE, late)  # takes the lower id, commits last
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, early)
    try:
        assert await relay.publish_pending() == 1  # what is committed goes; nothing waits on `late`
    finally:
        await tx.commit()
        await pool.release(slow)
    assert await relay.publish_pending() == 1
    records = await bus.wait_for(lambda r: r.key == account_id, count=2)
    assert [r.event.id for r in records] == [early.id, late.id]
    assert await relay.backlog() == 0 and await relay.stalled(0) is None


async def test_transactions_that_follow_one_another_publish_in_that_order(relay_pool, producer, bus, account_id):
    """The second waits for the first's row lock, as two commands of one account do."""
    pool = relay_pool
    await pool.execute("CREATE TABLE IF NOT EXISTS one_row (id int PRIMARY KEY)")
    await pool.execute("INSERT INTO one_row VALUES (1) ON CONFLICT DO NOTHING")
    first, second = group_created(account_id, "first"), group_created(account_id, "second")
    holder = await pool.acquire()
    tx = holder.transaction()
    await tx.start()
    await holder.execute("SELECT * FROM one_row WHERE id = 1 FOR UPDATE")

    async def follower():
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT * FROM one_row WHERE id = 1 FOR UPDATE")
            await outbox.stage(conn, SERVICE, second)

    waiting = asyncio.create_task(follower())
    await asyncio.sleep(0.2)
    await outbox.stage(holder, SERVICE, first)
    await tx.commit()
    await pool.release(holder)
    await asyncio.wait_for(waiting, 5)
    relay = OutboxRelay(SERVICE, pool, producer)
    while await relay.publish_pending():
        pass
    records = await bus.wait_for(lambda r: r.key == account_id, count=2)
    assert [r.event.id for r in records] == [first.id, second.id]


async def test_a_database_with_an_open_transaction_does_not_hold_back_another_databases_relay(
        stack, relay_pool, producer, bus, account_id):
    other = await asyncpg.connect(stack.database_url("seats"))
    tx = other.transaction()
    await tx.start()
    await other.execute("SELECT pg_current_xact_id()")  # a transaction with an xid, left open
    try:
        event = group_created(account_id, "meanwhile")
        async with relay_pool.acquire() as conn, conn.transaction():
            await outbox.stage(conn, SERVICE, event)
        assert await OutboxRelay(SERVICE, relay_pool, producer).publish_pending() == 1
    finally:
        await tx.rollback()
        await other.close()
    await bus.wait_for(lambda r: r.key == account_id and r.event.id == event.id)


async def test_relay_crash_between_publish_and_mark_republishes_instead_of_losing(relay_pool, producer, bus, account_id):
    pool = relay_pool
    event = group_created(account_id, "g1")
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, event)

    async def crash(_conn, _ids):
        raise ConnectionResetError("connection lost before the rows were marked")

    crashing = OutboxRelay(SERVICE, pool, producer)
    crashing.publisher._mark_published = crash
    with pytest.raises(ConnectionResetError):
        await crashing.publish_pending()
    await bus.wait_for(lambda r: r.key == account_id)
    assert await pool.fetchval("SELECT published_at FROM outbox WHERE event_id = $1", event.id) is None

    assert await OutboxRelay(SERVICE, pool, producer).publish_pending() == 1
    copies = await bus.wait_for(lambda r: r.key == account_id, count=2)
    assert {r.event.id for r in copies} == {event.id}  # a duplicate, which consumers de-duplicate
    assert await pool.fetchval("SELECT published_at FROM outbox WHERE event_id = $1", event.id) is not None


async def test_a_row_the_broker_can_never_take_is_set_aside_and_the_rest_published_once(
        relay_pool, producer, bus, account_id):
    pool = relay_pool
    before, after = group_created(account_id, "before"), group_created(account_id, "after")
    huge = group_created(account_id, "huge").model_copy(update={"data": {"name": "x" * 2_000_000}})
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage_many(conn, SERVICE, [before, huge, after])
    relay = OutboxRelay(SERVICE, pool, producer)
    assert await relay.publish_pending() == 2
    assert await relay.publish_pending() == 0  # nothing retried, nothing stuck
    published = await bus.wait_for(lambda r: r.key == account_id, count=2)
    assert [r.event.id for r in published] == [before.id, after.id]
    dead = await pool.fetchrow("SELECT event_id, error FROM outbox_dead WHERE event_id = $1", huge.id)
    assert dead is not None and "MessageSizeTooLarge" in dead["error"]
    assert await relay.backlog() == 0
    marker = group_created(account_id, "marker")  # anything after the two shows nothing else came
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, marker)
    await relay.publish_pending()
    await bus.wait_for(lambda r: r.key == account_id and r.event.id == marker.id)
    assert len(bus.matching(lambda r: r.key == account_id)) == 3


class DeniedProducer:
    """A producer the broker does not let write (a missing ACL grant)."""
    _request_timeout_ms = 40_000

    def _serialize(self, _topic, key, value):
        return key, value

    async def partitions_for(self, _topic):
        return {0}

    def create_batch(self):
        return AIOKafkaProducer(bootstrap_servers="127.0.0.1:1").create_batch()

    async def send_batch(self, *_args, **_kwargs):
        refused = asyncio.get_running_loop().create_future()
        refused.set_exception(TopicAuthorizationFailedError())
        return refused


async def test_a_missing_grant_is_an_outage_nothing_is_set_aside_and_health_names_it(
        relay_pool, producer, bus, account_id):
    pool = relay_pool
    events = [group_created(account_id, f"g{i}") for i in range(3)]
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage_many(conn, SERVICE, events)
    denied = OutboxRelay(SERVICE, pool, DeniedProducer(), settings=RelaySettings(max_delay=0.05, stall_after=0.0))
    running = asyncio.create_task(denied.run())
    await asyncio.sleep(0.5)  # several passes, each refused
    running.cancel()
    assert await pool.fetchval("SELECT count(*) FROM outbox_dead WHERE event_id = ANY($1)",
                               [e.id for e in events]) == 0
    assert await denied.backlog() >= 3
    assert "TopicAuthorizationFailedError" in (await denied.stalled(await denied.backlog()) or "")
    # The grant is given: everything goes out, in order, once.
    assert await OutboxRelay(SERVICE, pool, producer).publish_pending() >= 3
    published = await bus.wait_for(lambda r: r.key == account_id, count=3)
    assert [r.event.id for r in published] == [e.id for e in events]


async def test_set_aside_rows_requeued_are_published_with_their_ids(relay_pool, producer, bus, account_id):
    pool = relay_pool
    event = group_created(account_id, "aside")
    await pool.execute(
        """INSERT INTO outbox_dead (id, event_id, topic, key, type, payload, created_at, error)
           VALUES (-1 * (extract(epoch FROM clock_timestamp()) * 1000)::bigint, $1, $2, $3, $4, $5, now(),
                   'TopicAuthorizationFailedError()')""",
        event.id, event.topic, event.key, event.type, event.to_json())
    async with pool.acquire() as conn:
        assert event.id in [r["event_id"] for r in await outbox.dead_rows(conn)]
        assert await outbox.requeue_dead(conn, SERVICE) >= 1
        assert event.id not in [r["event_id"] for r in await outbox.dead_rows(conn)]
    await OutboxRelay(SERVICE, pool, producer).publish_pending()
    [again] = await bus.wait_for(lambda r: r.key == account_id)
    assert again.event.id == event.id


async def test_one_relay_per_database_publishes_and_another_takes_over_when_it_goes(
        stack, relay_pool, producer, bus, account_id):
    dsn = await relay_pool.fetchval("SELECT current_database()")
    dsn = stack.admin_url.rsplit("/", 1)[0] + "/" + dsn
    first = OutboxRelay(SERVICE, relay_pool, producer, dsn=dsn)
    second = OutboxRelay(SERVICE, relay_pool, producer, dsn=dsn)
    one, two = group_created(account_id, "one"), group_created(account_id, "two")
    async with relay_pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, one)
    try:
        assert await first.publish_pending() == 1 and first.leader
        async with relay_pool.acquire() as conn, conn.transaction():
            await outbox.stage(conn, SERVICE, two)
        assert await second.publish_pending() == 0 and not second.leader  # the lock is taken
        await first.close()  # the process ends: its session, and the lock, go with it
        await eventually(second.publish_pending, timeout=5, what="the second relay publishing")
        assert second.leader
    finally:
        await first.close()
        await second.close()
    published = await bus.wait_for(lambda r: r.key == account_id, count=2)
    assert [r.event.id for r in published] == [one.id, two.id]


async def test_published_rows_are_pruned_after_their_keep_time_and_unpublished_ones_never(
        relay_pool, producer, bus, account_id):
    pool = relay_pool
    sent, waiting = group_created(account_id, "sent"), group_created(account_id, "waiting")
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, sent)
    relay = OutboxRelay(SERVICE, pool, producer, settings=RelaySettings(keep_published_s=60))
    while await relay.publish_pending():
        pass
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, waiting)  # committed, not published yet
    assert await relay.prune() == 0  # published a moment ago: kept for its minute
    await pool.execute("UPDATE outbox SET published_at = now() - interval '61 seconds' WHERE event_id = $1", sent.id)
    assert await relay.prune() >= 1
    left = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox")}
    assert sent.id not in left and waiting.id in left


async def test_a_woken_relay_gathers_the_commits_that_follow_into_one_pass(stack, relay_pool, producer, bus, account_id):
    pool = relay_pool
    dsn = stack.admin_url.rsplit("/", 1)[0] + "/" + await pool.fetchval("SELECT current_database()")
    relay = OutboxRelay(SERVICE, pool, producer, dsn=dsn, settings=RelaySettings(gather_s=0.4))
    running = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.leader, timeout=30, every=0.05, what="the relay listening and holding its lock")
        await asyncio.sleep(0.1)
        events = [group_created(account_id, f"gathered{i}") for i in range(3)]
        for event in events:  # three commits, each with its NOTIFY, well inside the gathering time
            async with pool.acquire() as conn, conn.transaction():
                await outbox.stage(conn, SERVICE, event)
            await asyncio.sleep(0.05)
        published = await bus.wait_for(lambda r: r.key == account_id, count=3)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await relay.close()
    assert [r.event.id for r in published] == [e.id for e in events]
    # One pass marks what it published in one statement, so they share its transaction's time.
    marked = await pool.fetch("SELECT DISTINCT published_at FROM outbox WHERE event_id = ANY($1)", [e.id for e in events])
    assert len(marked) == 1
