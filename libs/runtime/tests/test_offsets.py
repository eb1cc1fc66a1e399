"""Unit tests of the offset committer, with a fake consumer (no broker)."""

from __future__ import annotations

from aiokafka import TopicPartition

from crm_runtime.offsets import OffsetCommitter

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


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


def committer_for(consumer) -> OffsetCommitter:
    committer = OffsetCommitter(consumer, interval=10)
    committer.assigned(consumer.assigned)
    return committer


async def test_finished_batches_are_committed_together_with_the_next_offset():
    consumer = FakeConsumer([P0, P1])
    committer = committer_for(consumer)
    for tp, next_offset in [(P0, 6), (P0, 8), (P1, 10)]:
        committer.finished(tp, next_offset, committer.epoch(tp))
    assert consumer.commits == []  # nothing until the flush: batched
    assert await committer.flush() is True
    assert consumer.commits == [{P0: 8, P1: 10}]
    assert await committer.flush() is True and len(consumer.commits) == 1  # nothing new, no request


async def test_partitions_no_longer_assigned_are_left_to_their_new_owner():
    consumer = FakeConsumer([P0, P1])
    committer = committer_for(consumer)
    committer.finished(P0, 4, committer.epoch(P0))
    committer.finished(P1, 5, committer.epoch(P1))
    consumer.assigned = {P1}
    await committer.flush()
    assert consumer.commits == [{P1: 5}]


async def test_a_failed_commit_stays_pending_and_is_retried():
    consumer = FakeConsumer([P0], fail=True)
    committer = committer_for(consumer)
    committer.finished(P0, 2, committer.epoch(P0))
    assert await committer.flush() is False
    assert committer.pending == {P0: 2}
    consumer.fail = False
    assert await committer.flush() is True
    assert consumer.commits == [{P0: 2}]


async def test_a_batch_of_an_earlier_assignment_commits_nothing():
    """A partition revoked while its batch was in flight, then given back: the old batch's offset
    is not ours to commit any more (the new epoch restarts from the committed offset)."""
    consumer = FakeConsumer([P0])
    committer = committer_for(consumer)
    old_epoch = committer.epoch(P0)
    committer.forget([P0])  # revoked
    committer.assigned([P0])  # and given back
    committer.finished(P0, 50, old_epoch)
    await committer.flush()
    assert consumer.commits == []


async def test_offsets_never_move_backwards():
    consumer = FakeConsumer([P0])
    committer = committer_for(consumer)
    epoch = committer.epoch(P0)
    committer.finished(P0, 10, epoch)
    await committer.flush()
    committer.finished(P0, 7, epoch)  # an older batch reported late
    await committer.flush()
    assert consumer.commits == [{P0: 10}]
    committer.finished(P0, 12, epoch)
    await committer.flush()
    assert consumer.commits == [{P0: 10}, {P0: 12}]


async def test_revoking_commits_only_the_revoked_partitions():
    consumer = FakeConsumer([P0, P1])
    committer = committer_for(consumer)
    committer.finished(P0, 3, committer.epoch(P0))
    committer.finished(P1, 4, committer.epoch(P1))
    await committer.flush(only={P0})
    assert consumer.commits == [{P0: 3}]
    assert committer.pending == {P1: 4}
