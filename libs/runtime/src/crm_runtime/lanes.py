"""One Kafka consumer per service: partitions processed concurrently, each strictly in order.

It fetches, and hands each partition's records to its lane (`groups.Groups`, which decides
which records run together in one transaction); a partition is paused only when its lane falls
`lane_backlog` records behind (pausing costs latency: a resumed partition waits for the
consumer's long poll to come back). Offsets are committed only after a group is finished
(`offsets.OffsetCommitter`); never auto-commit.

Rebalance: before a partition is handed over, the group holding its records is allowed to finish
(or cancelled after `revoke_wait_s`, its transaction rolled back, and the partitions of the group
still ours read again from its first records), its finished offsets are committed and what was
fetched but not started is dropped, so the new owner starts exactly where this one stopped.
Shutdown: stop fetching, let groups in flight finish, commit, leave the group.

Forgotten offsets: the committed offsets are copied to the service's database every few seconds
(`positions`). A partition assigned with no committed offset where that copy has one — Kafka
dropped them after a long idle time — is paused and reported (`lost`, in /health) instead of being
read again from its beginning; `crm offsets` sets where the group resumes.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from crm_contracts import Topic

from . import logs, positions
from .batches import BatchProcessor
from .groups import Groups
from .offsets import OffsetCommitter
from .rebootstrap import rebootstrapping
from .retry import Backoff
from .settings import ServiceSettings

log = logs.get(__name__)

POSITIONS_EVERY_S = 5.0


class PartitionedConsumer:
    def __init__(self, topics: list[Topic], processor: BatchProcessor, settings: ServiceSettings, *,
                 group: str, client_id: str) -> None:
        self.topics = [t.name for t in topics]
        self.processor = processor
        self.settings = settings
        self.consumer = rebootstrapping(AIOKafkaConsumer(
            **settings.kafka_args(), group_id=group, client_id=client_id,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=settings.fetch_max_records,
            fetch_min_bytes=settings.fetch_min_bytes, fetch_max_wait_ms=settings.fetch_max_wait_ms,
        ))
        self.group = group
        self.committer = OffsetCommitter(self.consumer, settings.offset_commit_interval_s)
        # Partitions whose committed offset Kafka forgot, with where this group had got to.
        self.lost: dict[TopicPartition, int] = {}
        self._recorded: dict[TopicPartition, int] = {}
        self.groups = Groups(self.consumer, processor, self.committer, settings)
        self._stopping = False
        self._tasks: list[asyncio.Task] = []

    def lag(self) -> dict[tuple[str, int], int]:
        """Per partition held, the records after the last one finished (or after the committed
        offset it was assigned at); a partition with neither known is left out, not guessed."""
        finished = {**self._recorded, **self.committer.committed, **self.committer.pending}
        out = {}
        for tp in self.consumer.assignment():
            end = self.consumer.highwater(tp)
            if end is not None and tp in finished:
                out[(tp.topic, tp.partition)] = max(0, end - finished[tp])
        return out

    @property
    def loops(self) -> list[asyncio.Task]:
        """The consumer's own loops (fetching, committing, recording positions): each runs until stop."""
        return list(self._tasks)

    async def start(self) -> None:
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        await self.consumer.start()
        self._tasks = [asyncio.create_task(self._fetch(), name="consumer-fetch"),
                       asyncio.create_task(self.groups.run(), name="consumer-groups"),
                       asyncio.create_task(self.committer.run(), name="consumer-commit"),
                       asyncio.create_task(self._record_positions(), name="consumer-positions")]

    # --- the copy of the committed offsets ---------------------------------------------------

    async def _record_positions(self) -> None:
        while True:
            await asyncio.sleep(POSITIONS_EVERY_S)
            await self.record_positions()

    async def record_positions(self) -> None:
        changed = {tp: o for tp, o in self.committer.committed.items() if self._recorded.get(tp) != o}
        if not changed or self.processor.pool is None:
            return
        try:
            await positions.record(self.processor.pool, self.group, changed)
            self._recorded.update(changed)
        except Exception as exc:  # the database away: the next pass records them
            log.warning("positions_not_recorded", error=repr(exc))

    async def forgotten(self, assigned: set[TopicPartition]) -> dict[TopicPartition, int]:
        """The assigned partitions this group had committed (by the copy) and Kafka has not now."""
        if self.processor.pool is None:
            return {}
        try:
            had = await positions.recorded(self.processor.pool, self.group, assigned)
            order = sorted(assigned, key=lambda tp: (tp.topic, tp.partition))
            now = dict(zip(order, await asyncio.gather(*(self.consumer.committed(tp) for tp in order)), strict=True))
            # Partitions with no traffic since are copied now, not only at their next commit.
            copied = {tp: o for tp, o in now.items() if o is not None}
            await positions.record(self.processor.pool, self.group,
                                   {tp: o for tp, o in copied.items() if had.get(tp) != o})
            self._recorded.update(copied)
            return {tp: at for tp, at in had.items() if now[tp] is None}
        except Exception as exc:  # cannot tell: go on as before the copy existed, and say so
            log.warning("positions_not_checked", error=repr(exc))
            return {}

    # --- fetching ----------------------------------------------------------------------------

    async def _fetch(self) -> None:
        backoff = Backoff(0.1, self.settings.retry_max_delay_s)
        while not self._stopping:
            batch = await backoff.retrying(lambda: self.consumer.getmany(timeout_ms=500), log=log,
                                           event="consumer_fetch_failed")
            for tp, records in batch.items():
                lane = self.groups.lanes.get(tp)
                if lane is None and records and tp in self.consumer.assignment():
                    # Assigned, its lane not open yet (the assignment is still being checked):
                    # read these again once it is, rather than skip them.
                    self.consumer.seek(tp, records[0].offset)
                    continue
                if lane is None or not records:
                    continue  # revoked since the fetch: the new owner reads them from the committed offset
                self.groups.add(lane, records)

    async def stop(self) -> None:
        self._stopping = True
        self._tasks[0].cancel()
        await asyncio.gather(self._tasks[0], return_exceptions=True)
        await self.groups.close(None, self.settings.drain_timeout_s)
        for _ in range(3):
            if await self.committer.flush():
                break
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks[1:], return_exceptions=True)
        await self.record_positions()
        await self.consumer.stop()


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, owner: PartitionedConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        revoked = set(revoked)
        if not revoked:
            return
        await self.owner.groups.close(revoked, self.owner.settings.revoke_wait_s)
        await self.owner.committer.flush(only=revoked)
        self.owner.committer.forget(revoked)
        log.info("partitions_revoked", partitions=sorted(f"{tp.topic}/{tp.partition}" for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.owner.committer.assigned(assigned)
        # Nothing is fetched for them while the check below awaits; each is resumed with its lane.
        if assigned:
            self.owner.consumer.pause(*assigned)
        lost = await self.owner.forgotten(set(assigned))
        for tp in set(self.owner.lost) - set(assigned):
            del self.owner.lost[tp]
        if lost:
            self.owner.lost.update(lost)
            self.owner.consumer.pause(*lost)
            log.error("offsets_lost", group=self.owner.group,
                      partitions={f"{tp.topic}/{tp.partition}": at for tp, at in sorted(lost.items())},
                      action=f"paused, not read again from the beginning; choose where to resume with `crm offsets "
                             f"set {self.owner.group} --to recorded` (or earliest, latest, a time) and restart")
        for tp in set(assigned) - set(lost):
            self.owner.consumer.resume(tp)  # paused under a previous assignment: flow again
            lane = self.owner.groups.lanes.get(tp)
            if lane is None:
                self.owner.groups.open(tp)
            else:
                lane.epoch = self.owner.committer.epoch(tp)
        log.info("partitions_assigned", partitions=sorted(f"{tp.topic}/{tp.partition}" for tp in assigned))
