"""One Kafka consumer per service: partitions processed concurrently, each strictly in order.

A fetched partition is paused while its batch is processed, so no second batch of it starts
before the first is finished and its offsets marked; other partitions go on meanwhile, at most
`max_concurrent_partitions` at a time. Offsets are committed only after the batch is finished
(`offsets.OffsetCommitter`); never auto-commit.

Rebalance: before a partition is handed over, its batch in flight is allowed to finish (or
cancelled after `revoke_wait_s`, its transaction rolled back) and its finished offsets are
committed, so the new owner starts exactly where this one stopped.

Shutdown: stop fetching, let batches in flight finish, commit, then leave the group.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from crm_contracts import Topic

from . import logs
from .consuming import BatchProcessor
from .offsets import OffsetCommitter
from .retry import Backoff
from .settings import ServiceSettings

log = logs.get(__name__)


class PartitionedConsumer:
    def __init__(self, topics: list[Topic], processor: BatchProcessor, settings: ServiceSettings, *,
                 group: str, client_id: str) -> None:
        self.topics = [t.name for t in topics]
        self.processor = processor
        self.settings = settings
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group, client_id=client_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=settings.fetch_max_records,
        )
        self.committer = OffsetCommitter(self.consumer, settings.offset_commit_interval_s)
        self._slots = asyncio.Semaphore(settings.max_concurrent_partitions)
        self._inflight: dict[TopicPartition, asyncio.Task] = {}
        self._stopping = False
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        await self.consumer.start()
        self._tasks = [asyncio.create_task(self._fetch(), name="consumer-fetch"),
                       asyncio.create_task(self.committer.run(), name="consumer-commit")]

    async def _fetch(self) -> None:
        backoff = Backoff(0.1, self.settings.retry_max_delay_s)
        while not self._stopping:
            try:
                # While batches are in flight, come back soon: their partitions resume when done.
                batch = await self.consumer.getmany(timeout_ms=10 if self._inflight else 500)
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer_fetch_failed", error=repr(exc), retry_in_s=backoff.delay)
                await backoff.wait()
                continue
            for tp, records in batch.items():
                if records:
                    self.consumer.pause(tp)
                    self._inflight[tp] = asyncio.create_task(
                        self._lane(tp, records, self.committer.epoch(tp)), name=f"lane-{tp.topic}-{tp.partition}")

    async def _lane(self, tp: TopicPartition, records: list[ConsumerRecord], epoch: int) -> None:
        try:
            async with self._slots:
                await self.processor.process(records)
            self.committer.finished(tp, records[-1].offset + 1, epoch)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The processor finishes every record or raises only on cancellation; should that ever
            # break, the batch is fetched again rather than skipped.
            log.exception("batch_failed_unexpectedly", topic=tp.topic, partition=tp.partition,
                          first_offset=records[0].offset)
            if epoch == self.committer.epoch(tp):
                self.consumer.seek(tp, records[0].offset)
            await asyncio.sleep(1)
        finally:
            if self._inflight.get(tp) is asyncio.current_task():
                del self._inflight[tp]
            if not self._stopping and epoch == self.committer.epoch(tp) and tp in self.consumer.assignment():
                self.consumer.resume(tp)

    async def finish_in_flight(self, partitions: set[TopicPartition] | None, timeout: float) -> None:
        """Let the batches in flight (of `partitions`, or all) finish; cancel what takes longer."""
        tasks = [t for tp, t in self._inflight.items() if partitions is None or tp in partitions]
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            log.warning("batches_cancelled", count=len(late), reason="took longer than allowed to finish")
        await asyncio.gather(*late, return_exceptions=True)

    async def stop(self) -> None:
        self._stopping = True
        self._tasks[0].cancel()
        await asyncio.gather(self._tasks[0], return_exceptions=True)
        await self.finish_in_flight(None, self.settings.drain_timeout_s)
        for _ in range(3):
            if await self.committer.flush():
                break
        self._tasks[1].cancel()
        await asyncio.gather(self._tasks[1], return_exceptions=True)
        await self.consumer.stop()


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, owner: PartitionedConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        revoked = set(revoked)
        if not revoked:
            return
        await self.owner.finish_in_flight(revoked, self.owner.settings.revoke_wait_s)
        await self.owner.committer.flush(only=revoked)
        self.owner.committer.forget(revoked)
        log.info("partitions_revoked", partitions=sorted(f"{tp.topic}/{tp.partition}" for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.owner.committer.assigned(assigned)
        for tp in assigned:  # a partition paused under a previous assignment must flow again
            self.owner.consumer.resume(tp)
        log.info("partitions_assigned", partitions=sorted(f"{tp.topic}/{tp.partition}" for tp in assigned))
