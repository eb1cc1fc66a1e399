"""Per-key order across a send that fails in the middle of a relay pass, against the real
PostgreSQL and Kafka.

A send can fail while later sends of the same pass succeed: a batch that timed out, then the next
batch to that partition going through. Every row from the failed one on is published again by the
next pass, so if a later row of the failed row's key had reached the topic, a consumer (which keeps
an event's first copy) would apply it before the failed one."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError

from crm_contracts import CloudEvent
from crm_runtime import outbox
from crm_runtime.relay import OutboxRelay
from crm_testing.databases import scratch_database
from runtime_helpers import SERVICE, group_created

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
async def pool(stack):
    async with scratch_database(stack, "crm_relay_order_test") as pool:
        yield pool


class Recorded:
    """A batch that remembers the values appended to it, so a send can be failed by its content."""

    def __init__(self, batch) -> None:
        self.batch, self.values = batch, []

    def append(self, *, value, **kwargs):
        self.values.append(value)
        return self.batch.append(value=value, **kwargs)

    def __getattr__(self, name):
        return getattr(self.batch, name)


class FailingOnce:
    """A real producer whose one write carrying `marker` fails without reaching the broker, as a
    batch that timed out does; every other write goes to Kafka."""

    def __init__(self, producer: AIOKafkaProducer, marker: bytes) -> None:
        self.producer, self.marker, self.failed = producer, marker, 0

    def __getattr__(self, name):
        return getattr(self.producer, name)

    def _fails(self, values) -> asyncio.Future | None:
        if self.failed or not any(self.marker in v for v in values):
            return None
        self.failed += 1
        refused = asyncio.get_running_loop().create_future()
        refused.set_exception(KafkaTimeoutError())
        return refused

    async def send(self, topic, value, key=None, **kwargs):
        return self._fails([value]) or await self.producer.send(topic, value, key=key, **kwargs)

    def create_batch(self):
        return Recorded(self.producer.create_batch())

    async def send_batch(self, batch, topic, *, partition):
        return self._fails(batch.values) or await self.producer.send_batch(batch.batch, topic, partition=partition)


@pytest.fixture
async def small_batches(stack):
    """One record per produce batch, so that a pass of one key is several batches."""
    producer = AIOKafkaProducer(**stack.kafka.args(), enable_idempotence=True, acks="all", max_batch_size=64)
    await producer.start()
    yield producer
    await producer.stop()


async def test_a_send_that_fails_mid_pass_leaves_every_keys_order_intact(pool, small_batches, bus):
    await pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    a, b = (f"acc_{uuid.uuid4().hex[:12]}" for _ in range(2))
    staged = [group_created(account, f"{account}-{i}") for i in range(4) for account in (a, b)]
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage_many(conn, SERVICE, staged)
    failed = staged[2]  # a's second event
    assert failed.key == a
    flaky = FailingOnce(small_batches, failed.id.encode())

    with pytest.raises(KafkaTimeoutError):
        await OutboxRelay(SERVICE, pool, flaky).publish_pending()
    assert flaky.failed == 1
    relay = OutboxRelay(SERVICE, pool, small_batches)
    while await relay.publish_pending():
        pass

    for account in (a, b):
        expected = [e.id for e in staged if e.key == account]
        records = await bus.wait_for(lambda r, k=account: r.key == k, count=len(expected))
        await asyncio.sleep(0.5)  # and any copies published after them
        first_copies = list(dict.fromkeys(r.event.id for r in bus.matching(lambda r, k=account: r.key == k)))
        assert first_copies == expected, f"{account}: {first_copies} != {expected}"
        assert records


async def test_a_record_the_topic_refuses_inside_a_batch_is_set_aside_and_its_neighbours_published(
        stack, pool, bus):
    """Smaller than the producer's limit, larger than the topic's: only the broker can tell, and it
    refuses the whole batch the record is in."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"relaytest.small.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**stack.kafka.args())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "4000"})])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**stack.kafka.args(), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
        account = f"acc_{uuid.uuid4().hex[:12]}"
        before, after = group_created(account, "before"), group_created(account, "after")
        large = group_created(account, "large").model_copy(update={"data": {"name": "x" * 6000}})
        async with pool.acquire() as conn, conn.transaction():
            await outbox.stage_many(conn, SERVICE, [before, large, after])
        await pool.execute("UPDATE outbox SET topic = $1 WHERE event_id = ANY($2)", topic,
                           [before.id, large.id, after.id])
        relay = OutboxRelay(SERVICE, pool, producer)
        assert await relay.publish_pending() == 2
        dead = await pool.fetchrow("SELECT error FROM outbox_dead WHERE event_id = $1", large.id)
        assert dead is not None and "TooLarge" in dead["error"]
        consumer = AIOKafkaConsumer(topic, **stack.kafka.args(), auto_offset_reset="earliest",
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            got = await consumer.getmany(timeout_ms=10_000, max_records=10)
        finally:
            await consumer.stop()
        assert [CloudEvent.model_validate_json(r.value).id for rs in got.values() for r in rs] == [before.id, after.id]
    finally:
        await producer.stop()
