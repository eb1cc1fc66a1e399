"""A group whose committed offsets Kafka forgot, on the real broker: it does not read its topic again
from the beginning (duplicate e-mails, pushes) — its partitions pause and /health says why — and
`crm offsets set GROUP --to recorded` resumes it where the service's database says it was."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from typer.testing import CliRunner

from crm_cli.main import app as crm
from crm_contracts import command, identity
from crm_runtime import db, positions
from crm_runtime.batches import BatchProcessor
from crm_runtime.handlers import HandlerContext, Handlers
from crm_runtime.lanes import PartitionedConsumer
from crm_runtime.settings import ServiceSettings
from crm_devstack.waiting import eventually
from runtime_helpers import partitions_of
from test_rebalance import TOPIC, committed, end_offsets

pytestmark = pytest.mark.stack


@pytest.fixture
async def scratch(stack):
    """A service database of the runtime's tables, and its URL for the `crm` command."""
    admin = await asyncpg.connect(stack.admin_url)
    name = "crm_lost_offsets_" + uuid.uuid4().hex[:8]
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = stack.admin_url.rsplit("/", 1)[0] + "/" + name
    pool = await db.create_pool(url)
    async with pool.acquire() as conn:
        await db.migrate(conn, [("runtime", db.migrations_of("crm_runtime"))])
    yield pool, url
    await pool.close()
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


async def test_forgotten_offsets_pause_instead_of_replaying_and_crm_offsets_resumes_them(stack, scratch):
    database, url = scratch
    group = "test-lost-offsets-" + uuid.uuid4().hex[:8]  # not crm-…: `crm lag` lists only the services' groups
    handled: list[str] = []
    handlers = Handlers()

    @handlers.on(identity.CreateGroup)
    async def seen(ctx: HandlerContext, cmd: identity.CreateGroup) -> None:
        handled.append(ctx.message.id)

    settings = ServiceSettings(kafka_bootstrap_servers=stack.bootstrap)

    def consumer() -> PartitionedConsumer:
        processor = BatchProcessor("losttest", handlers, None, group=group, settings=settings, pool=database)
        return PartitionedConsumer([TOPIC], processor, settings, group=group, client_id="lost-test")

    # The group had read the whole topic (its copy says so); Kafka has no offset for it any more.
    probe = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap)
    await probe.start()
    try:
        tps = [TopicPartition(TOPIC.name, p) for p in await partitions_of(probe, TOPIC)]
    finally:
        await probe.stop()
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    history = [command(identity.CreateGroup(group_id=f"old{i}", name="G", parent_group_id=None), source="test",
                       accountid=f"acc_old_{uuid.uuid4().hex[:8]}") for i in range(12)]
    for cmd in history:  # on a fresh stack the topic may hold nothing yet
        await producer.send(TOPIC.name, cmd.to_json(), key=cmd.key.encode())
    await producer.flush()
    had = await end_offsets(stack.bootstrap, tps)
    assert sum(had.values()) >= len(history), "the topic has history to replay"
    await positions.record(database, group, had)

    new = [command(identity.CreateGroup(group_id=f"g{i}", name="G", parent_group_id=None), source="test",
                   accountid=f"acc_lost_{uuid.uuid4().hex[:8]}") for i in range(3)]
    for cmd in new:
        await producer.send(TOPIC.name, cmd.to_json(), key=cmd.key.encode())
    await producer.stop()

    first = consumer()
    await first.start()
    try:
        await eventually(lambda: len(first.lost) == len(tps), timeout=10, what="every partition found without an offset")
        await asyncio.sleep(2)  # long enough to have read history, had it not paused
        assert handled == []
        assert first.lost == had
    finally:
        await first.stop()
    assert all(o is None for o in (await committed(stack.bootstrap, group, tps)).values())

    result = await asyncio.to_thread(CliRunner().invoke, crm, [
        "offsets", "set", group, "--to", "recorded", "-b", stack.bootstrap, "--service", "identity",
        "--database-url", url])
    assert result.exit_code == 0, result.output
    assert await committed(stack.bootstrap, group, tps) == had

    second = consumer()
    await second.start()
    try:
        await eventually(lambda: len(handled) >= len(new), timeout=15, what="the records after the recorded offsets")
        assert second.lost == {}
    finally:
        await second.stop()
    assert sorted(handled) == sorted(c.id for c in new)  # what came after, and nothing before it

