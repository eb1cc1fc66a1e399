"""Unit tests of batched offset commits, with a fake consumer (no broker)."""

from __future__ import annotations

import asyncio

from aiokafka import ConsumerRecord, TopicPartition

from crm_runtime.offsets import OffsetCommitter


class FakeConsumer:
    def __init__(self, assigned, fail=False):
        self.assigned = set(assigned)
        self.commits = []
        self.fail = fail

    def assignment(self):
        return self.assigned

    async def commit(self, offsets):
        if self.fail:
            raise RuntimeError("rebalance in progress")
        self.commits.append(dict(offsets))


def rec(partition: int, offset: int) -> ConsumerRecord:
    return ConsumerRecord(topic="t", partition=partition, offset=offset, timestamp=0, timestamp_type=0,
                          key=None, value=b"", checksum=None, serialized_key_size=0, serialized_value_size=0,
                          headers=())


async def test_finished_records_are_committed_together_with_the_next_offset():
    consumer = FakeConsumer([TopicPartition("t", 0), TopicPartition("t", 1)])
    committer = OffsetCommitter(interval=0.05)
    for partition, offset in [(0, 5), (0, 6), (1, 9), (0, 7)]:
        committer.finished(consumer, rec(partition, offset))
    assert consumer.commits == []  # nothing yet: batched
    await asyncio.sleep(0.1)
    assert consumer.commits == [{TopicPartition("t", 0): 8, TopicPartition("t", 1): 10}]


async def test_partitions_no_longer_assigned_are_left_to_their_new_owner():
    consumer = FakeConsumer([TopicPartition("t", 1)])
    committer = OffsetCommitter(interval=10)
    committer.finished(consumer, rec(0, 3))
    committer.finished(consumer, rec(1, 4))
    await committer.close()  # flushes at once
    assert consumer.commits == [{TopicPartition("t", 1): 5}]


async def test_a_failed_commit_is_logged_not_raised_and_a_later_one_supersedes_it():
    consumer = FakeConsumer([TopicPartition("t", 0)], fail=True)
    committer = OffsetCommitter(interval=10)
    committer.finished(consumer, rec(0, 1))
    await committer.flush()
    consumer.fail = False
    committer.finished(consumer, rec(0, 2))
    await committer.close()
    assert consumer.commits == [{TopicPartition("t", 0): 3}]
