"""Commits the offsets of finished batches: together, monotonic, retried, and in time for a rebalance.

Only batches whose records are all finished (transaction committed, or dead-lettered) are ever
marked, so a commit never covers a record still in flight; a crash before a flush only means
those records are delivered again, which the inbox turns into no-ops.

Each assignment of a partition opens a new epoch. A batch marked under an older epoch — its
partition was revoked and perhaps given back since — is ignored, and an offset is never committed
below one already committed in the current epoch, so offsets only move forward.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from . import logs

log = logs.get(__name__)


class OffsetCommitter:
    def __init__(self, consumer: AIOKafkaConsumer, interval: float = 0.1) -> None:
        self.consumer = consumer
        self.interval = interval
        self._pending: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._epochs: dict[TopicPartition, int] = {}
        self._flushing = asyncio.Lock()

    def epoch(self, tp: TopicPartition) -> int:
        return self._epochs.get(tp, 0)

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self._new_epoch(tp)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """The partitions are gone: nothing marked for them before now may be committed later."""
        for tp in partitions:
            self._new_epoch(tp)

    def _new_epoch(self, tp: TopicPartition) -> None:
        self._epochs[tp] = self.epoch(tp) + 1
        self._pending.pop(tp, None)
        self._committed.pop(tp, None)

    def finished(self, tp: TopicPartition, next_offset: int, epoch: int) -> None:
        """Everything before `next_offset` is finished; commit it within `interval` seconds."""
        if epoch != self.epoch(tp):
            return
        if next_offset > max(self._pending.get(tp, -1), self._committed.get(tp, -1)):
            self._pending[tp] = next_offset

    @property
    def pending(self) -> dict[TopicPartition, int]:
        return dict(self._pending)

    @property
    def committed(self) -> dict[TopicPartition, int]:
        """What this consumer committed in the current epochs of its partitions."""
        return dict(self._committed)

    async def flush(self, only: set[TopicPartition] | None = None) -> bool:
        """Commit what is pending (for `only`, if given); True when nothing is left pending.

        A failed commit stays pending and is tried again by the next flush.
        """
        async with self._flushing:
            assigned = self.consumer.assignment()
            offsets = {tp: o for tp, o in self._pending.items()
                       if (only is None or tp in only) and tp in assigned}
            if not offsets:
                return True
            try:
                await self.consumer.commit(offsets)
            except Exception as exc:
                log.warning("offset_commit_failed", error=repr(exc),
                            partitions=[f"{tp.topic}/{tp.partition}" for tp in offsets])
                return False
            for tp, offset in offsets.items():
                self._committed[tp] = max(offset, self._committed.get(tp, -1))
                if self._pending.get(tp) == offset:
                    del self._pending[tp]
            return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()
