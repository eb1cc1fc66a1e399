"""Several partitions' batches as one transaction (`BatchProcessor.process_group`), against the real
PostgreSQL and Kafka: what one fetch brings commits once, and a failure in one partition still
costs only its own record."""

from __future__ import annotations

import dataclasses

import uuid

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from crm_contracts import identity
from crm_devstack.waiting import eventually
from crm_runtime import metrics
from crm_runtime.lanes import PartitionedConsumer
from crm_runtime.settings import ServiceSettings
from crm_testing.databases import scratch_database
from runtime_helpers import (SERVICE, Behaviours, batch_of, group_create, outbox_types, processor, scratch,
                             start_group_at_the_end)

pytestmark = pytest.mark.stack

TOPIC = identity.COMMANDS


@pytest.fixture(scope="module")
async def pool(stack):
    async with scratch_database(stack, "crm_groups_test") as pool:
        await pool.execute("CREATE TABLE scratch (group_id text PRIMARY KEY, n int NOT NULL DEFAULT 0)")
        yield pool


def in_partition(records: list[ConsumerRecord], partition: int) -> list[ConsumerRecord]:
    return [dataclasses.replace(r, partition=partition) for r in records]


def groups(outcome: str) -> float:
    return metrics.GROUPS.labels(SERVICE, outcome)._value.get()  # noqa: SLF001 - the counter's value


async def transactions(pool, names: list[str]) -> dict[str, int]:
    """Each scratch row's writing transaction (rows one transaction wrote share its xmin)."""
    rows = await pool.fetch("SELECT group_id, xmin::text::bigint AS tx FROM scratch WHERE group_id = ANY($1)", names)
    return {r["group_id"]: r["tx"] for r in rows}


async def test_what_one_fetch_brought_from_several_partitions_commits_as_one_transaction(pool, producer, account_id):
    b = Behaviours()
    cmds = [[group_create(f"{account_id}{p}", f"ok{i}-{account_id}p{p}") for i in range(3)] for p in range(4)]
    batches = [in_partition(batch_of(c, key=f"{account_id}{p}"), p) for p, c in enumerate(cmds)]
    committed = groups("committed")

    outcomes = await processor(pool, producer, b).process_group(batches)

    assert [[o.name for o in part] for part in outcomes] == [["handled"] * 3] * 4
    names = [c.data["group_id"] for part in cmds for c in part]
    written = await transactions(pool, names)
    assert sorted(written) == sorted(names)
    assert len(set(written.values())) == 1, written  # one transaction for the four partitions
    assert groups("committed") == committed + 1
    # Each partition's records were handled in its own offset order.
    for p in range(4):
        assert [n for n in b.calls if n.endswith(f"p{p}")] == [f"ok{i}-{account_id}p{p}" for i in range(3)]
    ids = [c.id for part in cmds for c in part]
    assert len(await outbox_types(pool, ids)) == len(ids)


async def test_a_failing_record_splits_its_group_and_costs_only_its_own_record(pool, producer, bus, account_id):
    """A handler bug in one partition and a refusal in another: the group's transaction is rolled
    back whole and each partition runs on its own, so the others commit, the bug is dead-lettered
    alone, the refusal answered, and nothing of the rolled-back group stays or is staged twice."""
    b = Behaviours()
    plan = {0: ["ok1", "bug", "ok2"], 1: ["ok1", "ok2"], 2: ["reject"]}
    cmds = {p: [group_create(f"{account_id}{p}", f"{kind}-{account_id}p{p}") for kind in kinds]
            for p, kinds in plan.items()}
    batches = [in_partition(batch_of(c, key=f"{account_id}{p}"), p) for p, c in cmds.items()]
    split = groups("split")

    outcomes = await processor(pool, producer, b, attempts=1).process_group(batches)

    assert [[(o.name, o.reason) for o in part] for part in outcomes] == [
        [("handled", None), ("dead_lettered", "handler_error"), ("handled", None)],
        [("handled", None), ("handled", None)],
        [("rejected", "group_taken")]]
    assert groups("split") == split + 1
    kept = set().union(*[await scratch(pool, f"{account_id}p{p}") for p in plan])
    assert kept == {f"ok1-{account_id}p0", f"ok2-{account_id}p0", f"ok1-{account_id}p1", f"ok2-{account_id}p1"}
    # Partitions 1 and 2 had nothing wrong but were handled again on their own: one transaction each.
    written = await transactions(pool, sorted(kept))
    assert written[f"ok1-{account_id}p1"] == written[f"ok2-{account_id}p1"] != written[f"ok1-{account_id}p0"]
    ids = [c.id for part in cmds.values() for c in part]
    staged = await outbox_types(pool, ids)
    assert sorted(staged) == sorted([(c.id, "identity.group.created") for p, part in cmds.items() for c in part
                                     if not c.data["group_id"].startswith(("bug", "reject"))]
                                    + [(cmds[2][0].id, "identity.command.rejected")])
    dead = await bus.wait_for(lambda r: r.topic == "identity.commands.v1.dlq" and r.key == f"{account_id}0")
    assert [(r.headers["dlq_reason"], r.headers["dlq_source_offset"]) for r in dead] == [("handler_error", "101")]


async def test_one_partition_alone_is_not_counted_as_a_group(pool, producer, account_id):
    b = Behaviours()
    committed, split = groups("committed"), groups("split")
    [outcomes] = await processor(pool, producer, b).process_group(
        [batch_of([group_create(account_id, f"ok-{account_id}")], key=account_id)])
    assert [o.name for o in outcomes] == ["handled"]
    assert (groups("committed"), groups("split")) == (committed, split)


async def test_the_consumer_hands_a_fetch_from_several_partitions_over_as_one_group(stack, pool):
    """Records waiting on several partitions when the consumer starts: its first fetch brings them
    all, and they are handled in one transaction; with `group_max_partitions=1`, one a partition."""
    written, partitions = {}, {}
    for limit in (16, 1):
        group = "test-groups-" + uuid.uuid4().hex[:8]
        await start_group_at_the_end(stack.bootstrap, group, TOPIC)
        b = Behaviours()
        keys = [f"acc_grp_{uuid.uuid4().hex[:8]}" for _ in range(30)]
        cmds = [group_create(k, f"ok-{k}") for k in keys]
        async with AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all") as producer:
            sent = [await producer.send(TOPIC.name, c.to_json(), key=c.key.encode()) for c in cmds]
            partitions[limit] = {(await s).partition for s in sent}
        settings = ServiceSettings(kafka_bootstrap_servers=stack.bootstrap, group_max_partitions=limit)
        consumer = PartitionedConsumer([TOPIC], processor(pool, None, b, settings=settings), settings,
                                       group=group, client_id="groups")
        await consumer.start()
        try:
            await eventually(lambda b=b, n=len(keys): len(b.calls) >= n,  # noqa: B008 - bound per loop
                             timeout=60, what="every command handled")
        finally:
            await consumer.stop()
        written[limit] = await transactions(pool, [f"ok-{k}" for k in keys])
    assert len(written[16]) == len(written[1]) == 30
    assert len(set(written[16].values())) == 1
    assert len(set(written[1].values())) == len(partitions[1]) > 1
