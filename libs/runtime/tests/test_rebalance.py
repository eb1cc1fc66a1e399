"""Two consumers of one group on the real broker: a rebalance while a batch is in flight."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from crm_contracts import command, identity
from crm_runtime import db
from crm_runtime.lanes import PartitionedConsumer
from crm_runtime.batches import BatchProcessor
from crm_runtime.handlers import HandlerContext, Handlers
from crm_runtime.settings import ServiceSettings
from crm_devstack.waiting import eventually
from runtime_helpers import start_group_at_the_end

pytestmark = pytest.mark.stack

TOPIC = identity.COMMANDS


@pytest.fixture
async def database(stack):
    admin = await asyncpg.connect(stack.admin_url)
    name = "crm_rebalance_test_" + uuid.uuid4().hex[:8]
    await admin.execute(f'CREATE DATABASE "{name}"')
    pool = await db.create_pool(stack.admin_url.rsplit("/", 1)[0] + "/" + name)
    async with pool.acquire() as conn:
        await db.migrate(conn, [("runtime", db.migrations_of("crm_runtime"))])
    yield pool
    await pool.close()
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


async def end_offsets(bootstrap: str, tps) -> dict[TopicPartition, int]:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await c.start()
    try:
        return await c.end_offsets(tps)
    finally:
        await c.stop()


async def committed(bootstrap: str, group: str, tps) -> dict[TopicPartition, int]:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        return {tp: await c.committed(tp) for tp in tps}
    finally:
        await c.stop()


async def test_a_rebalance_mid_batch_redoes_nothing_finished_and_skips_nothing(stack, database):
    group = "test-rebalance-" + uuid.uuid4().hex[:8]
    before = await start_group_at_the_end(stack.bootstrap, group, TOPIC)
    calls: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    ours: set[str] = set()
    handlers = Handlers()

    @handlers.on(identity.CreateGroup)
    async def slow_or_fast(ctx: HandlerContext, cmd: identity.CreateGroup) -> None:
        calls[ctx.message.id] += 1
        if cmd.group_id.startswith("slow"):
            await asyncio.sleep(1.5)  # the batch is in flight when the second consumer joins

    settings = ServiceSettings(kafka_bootstrap_servers=stack.bootstrap, revoke_wait_s=10)

    def consumer(name: str) -> PartitionedConsumer:
        processor = BatchProcessor("rebalancetest", handlers, None, group=group, settings=settings, pool=database)
        original = processor.process_group

        async def counted(batches):
            result = await original(batches)
            # Only this test's records: the topic is the live stack's, and other senders may write to it.
            outcomes.update(o.name for part in result for o in part if o.message is not None and o.message.id in ours)
            return result

        processor.process_group = counted  # type: ignore[method-assign]
        return PartitionedConsumer([TOPIC], processor, settings, group=group, client_id=name)

    first = consumer("first")
    await first.start()
    await eventually(lambda: len(first.consumer.assignment()) >= len(before), timeout=60,
                     what="the first consumer holding every partition")
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    second = consumer("second")
    try:
        accounts = [f"acc_rb_{uuid.uuid4().hex[:8]}" for _ in range(60)]
        cmds = [command(identity.CreateGroup(group_id=("slow" if i % 10 == 0 else "fast") + f"-{i}", name="G",
                                             parent_group_id=None), source="test", accountid=a)
                for i, a in enumerate(accounts)]
        ours.update(c.id for c in cmds)
        for cmd in cmds:
            await producer.send(TOPIC.name, cmd.to_json(), key=cmd.key.encode())
        await producer.flush()
        ends = await end_offsets(stack.bootstrap, list(before))
        await asyncio.sleep(0.5)  # the first consumer has taken batches holding the slow records
        await second.start()
        await eventually(lambda: sum(outcomes.values()) >= len(cmds), timeout=60, every=0.2,
                         what="every command handled")
        await eventually(lambda: second.consumer.assignment(), timeout=60, every=0.2,
                         what="the second consumer getting partitions")
    finally:
        await first.stop()
        await second.stop()
        await producer.stop()

    handled = await database.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1)", [c.id for c in cmds])
    assert handled == len(cmds)  # every record's effect, once
    assert outcomes["handled"] == len(cmds)
    # The first consumer committed what it finished before handing its partitions over, so the
    # second was given nothing already done (it would show as a duplicate).
    assert outcomes["duplicate"] == 0
    assert await committed(stack.bootstrap, group, list(before)) == ends  # nothing left behind, nothing skipped
