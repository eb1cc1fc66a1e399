"""Commits the offsets of finished records in batches instead of one request per record.

Only records whose transaction committed (or that were dead-lettered) are ever marked finished,
so a commit never covers a record still in flight; a crash before a flush only means those
records are delivered again, which the inbox turns into no-ops. One synchronous commit per
record cost about two thirds of the time of each record (84 vs 244 commands/s in `make bench`).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from . import logs

log = logs.get(__name__)


class OffsetCommitter:
    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._consumer: AIOKafkaConsumer | None = None
        self._done: dict[TopicPartition, int] = {}
        self._pending: asyncio.Task | None = None

    def finished(self, consumer: AIOKafkaConsumer, record: ConsumerRecord) -> None:
        """Mark `record` done; its offset is committed within `interval` seconds."""
        self._consumer = consumer
        self._done[TopicPartition(record.topic, record.partition)] = record.offset + 1
        if self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.interval)
        await self.flush()

    async def flush(self) -> None:
        offsets, self._done = self._done, {}
        if not offsets or self._consumer is None:
            return
        # A partition taken away by a rebalance is the new owner's to commit; committing our
        # older offset there could only move it backwards.
        assigned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except Exception as exc:
            # Those records are delivered again after a restart or rebalance; the inbox makes
            # that a no-op. A later flush of the same partition supersedes this one.
            log.warning("offset_commit_failed", error=repr(exc),
                        partitions=[f"{tp.topic}/{tp.partition}" for tp in offsets])

    async def close(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        await self.flush()
