"""The outbox handed to the relay at commit, against the real PostgreSQL and Kafka: a commit of the
relay's own process is published on its NOTIFY from memory, without the relay reading the table,
and with two replicas staging one key's events in turn, the topic holds them in commit order."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from crm_runtime import outbox
from crm_runtime.relay import OutboxRelay, RelaySettings
from crm_devstack.waiting import eventually
from crm_testing.databases import scratch_database
from runtime_helpers import SERVICE, group_created

pytestmark = pytest.mark.stack

# Longer than any test here waits: whatever is published came from a NOTIFY, not the poll.
NO_POLL = RelaySettings(idle_poll=600.0)


@pytest.fixture(scope="module")
async def pool(stack):
    async with scratch_database(stack, "crm_relay_handover_test") as pool:
        yield pool


@pytest.fixture
async def dsn(stack, pool):
    await pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    return stack.admin_url.rsplit("/", 1)[0] + "/" + await pool.fetchval("SELECT current_database()")


class Replica:
    """One process of the service: its relay (running, in the lock's queue) and what it stages."""

    def __init__(self, pool, producer, dsn: str) -> None:
        self.pool = pool
        self.handover = outbox.Handover()
        self.relay = OutboxRelay(SERVICE, pool, producer, dsn=dsn, settings=NO_POLL, handover=self.handover)
        self.task = asyncio.create_task(self.relay.run())

    async def stage(self, event) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await outbox.stage(conn, SERVICE, event, self.handover)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.relay.close()


async def test_a_commit_of_the_relays_own_process_is_published_from_its_notify_without_reading_the_outbox(
        pool, dsn, producer, bus, account_id):
    here = Replica(pool, producer, dsn)
    elsewhere = outbox.Handover()  # another process: the relay has only the NOTIFY's ids
    statements: list[str] = []
    try:
        await eventually(lambda: here.relay.leader, timeout=30, every=0.05, what="the relay holding its lock")
        await asyncio.sleep(0.2)  # its first pass, which reads the table whole, is over
        here.relay.leadership._conn.add_query_logger(lambda q: statements.append(q.query))  # noqa: SLF001
        ours = [group_created(account_id, f"ours{i}") for i in range(5)]
        for event in ours:
            await here.stage(event)
        await bus.wait_for(lambda r: r.key == account_id, count=5, timeout=20)
        theirs = group_created(account_id, "theirs")
        async with pool.acquire() as conn, conn.transaction():
            await outbox.stage(conn, SERVICE, theirs, elsewhere)
        published = await bus.wait_for(lambda r: r.key == account_id, count=6, timeout=20)
    finally:
        await here.stop()
    assert [r.event.id for r in published] == [e.id for e in [*ours, theirs]]
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "FROM outbox" in s]
    marks = [s for s in statements if s.lstrip().startswith("UPDATE outbox SET published_at")]
    # Only the other process's row was read, by its id; our five cost marks and no read.
    assert len(reads) == 1 and "id = ANY" in reads[0], statements
    assert 2 <= len(marks) <= 6, statements
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    assert len(here.handover) == 0


async def test_two_replicas_staging_one_keys_events_in_turn_publish_them_in_commit_order(
        stack, pool, dsn, producer, bus):
    """Each event commits after the one before it, from alternating replicas: only one replica's
    relay holds the lock, so it publishes its own rows from memory and the other's read by id.
    Half way through, the publishing replica stops and the other takes over."""
    keys = [f"acct-handover-{i}" for i in range(3)]  # odd: each key's events alternate between replicas
    first, second = Replica(pool, producer, dsn), Replica(pool, producer, dsn)
    replicas = itertools.cycle([first, second])
    staged: dict[str, list[str]] = {k: [] for k in keys}
    try:
        await eventually(lambda: first.relay.leader or second.relay.leader, timeout=30, every=0.05,
                         what="one relay holding the lock")
        for n in range(240):
            key = keys[n % len(keys)]
            event = group_created(key, f"g{n}")
            await next(replicas).stage(event)
            staged[key].append(event.id)
            if n == 120:  # the publishing process goes away mid-stream; the other takes over
                leader = first if first.relay.leader else second
                await leader.stop()
        every = {event_id for ids in staged.values() for event_id in ids}
        await bus.until(lambda: None if every <= {r.event.id for r in bus.records if r.key in staged}
                        else "not every staged event is on the topic yet", 60)
        published = [r for r in bus.records if r.key in staged]
    finally:
        await first.stop()
        await second.stop()
    for key in keys:
        seen = [r.event.id for r in published if r.key == key]
        # A takeover may publish a row twice (sent, not yet marked); its first copy is in order.
        assert list(dict.fromkeys(seen)) == staged[key]
