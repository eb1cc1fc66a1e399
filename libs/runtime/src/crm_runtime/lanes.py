"""One Kafka consumer per service: partitions processed concurrently, each strictly in order.

Each assigned partition has a lane: the records fetched for it and not yet started. Whenever
records wait and one of `max_concurrent_partitions` slots is free, the lanes not already in flight
are taken together as a group — what one fetch brought, across partitions, up to
`fetch_max_records` records from up to `group_max_partitions` lanes — and handed to the
`BatchProcessor`, which tries the group as one transaction (each partition's records in order)
and splits it into a transaction per partition when anything in it fails. A lane is in at most
one group at a time, so a partition's records are never handled out of order. When the group is
finished its offsets are marked, per partition with the epoch of the assignment it was formed
under. Fetching goes on while groups work, so records that arrive meanwhile are already there for
the next; a partition is paused only when its lane falls `lane_backlog` records behind (pausing
costs latency: a resumed partition waits for the consumer's long poll to come back). Offsets are
committed only after the group is finished (`offsets.OffsetCommitter`); never auto-commit.

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
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from crm_contracts import Topic

from . import logs, positions
from .batches import BatchProcessor
from .offsets import OffsetCommitter
from .rebootstrap import rebootstrapping
from .retry import Backoff
from .settings import ServiceSettings

log = logs.get(__name__)

POSITIONS_EVERY_S = 5.0


@dataclass(eq=False)
class _Lane:
    tp: TopicPartition
    epoch: int
    queued: list[ConsumerRecord] = field(default_factory=list)
    busy: bool = False  # its records are in a group in flight
    paused: bool = False
    group: asyncio.Task | None = None


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
        self._slots = asyncio.Semaphore(settings.max_concurrent_partitions)
        self._lanes: dict[TopicPartition, _Lane] = {}
        # Partitions with records waiting, those waiting longest first (a dict: an ordered set).
        self._ready: dict[TopicPartition, None] = {}
        self._wake = asyncio.Event()
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
                       asyncio.create_task(self._dispatch(), name="consumer-dispatch"),
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
                lane = self._lanes.get(tp)
                if lane is None and records and tp in self.consumer.assignment():
                    # Assigned, its lane not open yet (the assignment is still being checked):
                    # read these again once it is, rather than skip them.
                    self.consumer.seek(tp, records[0].offset)
                    continue
                if lane is None or not records:
                    continue  # revoked since the fetch: the new owner reads them from the committed offset
                lane.queued.extend(records)
                self._ready.setdefault(tp, None)
                self._wake.set()
                if len(lane.queued) >= self.settings.lane_backlog and not lane.paused:
                    self.consumer.pause(tp)
                    lane.paused = True

    # --- lanes and groups ----------------------------------------------------------------------

    def _open(self, tp: TopicPartition) -> None:
        self._lanes[tp] = _Lane(tp, self.committer.epoch(tp))

    async def _dispatch(self) -> None:
        """Whenever records wait and a slot is free, start a group with them."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while any(not lane.busy for tp in self._ready if (lane := self._lanes.get(tp)) is not None):
                await self._slots.acquire()
                members = self._form_group()  # after the wait: lanes may have gone or filled meanwhile
                if not members:
                    self._slots.release()
                    break
                task = asyncio.create_task(self._run_group(members), name="group")
                for lane, _, _ in members:
                    lane.group = task

    def _form_group(self) -> list[tuple[_Lane, list[ConsumerRecord], int]]:
        """Up to `fetch_max_records` records from up to `group_max_partitions` idle lanes, those
        waiting longest first; a lane not emptied goes to the back, so a busy partition cannot
        keep the others waiting."""
        members: list[tuple[_Lane, list[ConsumerRecord], int]] = []
        room = self.settings.fetch_max_records
        for tp in list(self._ready):
            lane = self._lanes.get(tp)
            if lane is None or not lane.queued:
                del self._ready[tp]
                continue
            if lane.busy:
                continue
            records = lane.queued[:room]
            del lane.queued[:len(records)]
            del self._ready[tp]
            if lane.queued:
                self._ready[tp] = None
            lane.busy = True
            members.append((lane, records, lane.epoch))
            room -= len(records)
            if room <= 0 or len(members) >= self.settings.group_max_partitions:
                break
        return members

    async def _run_group(self, members: list[tuple[_Lane, list[ConsumerRecord], int]]) -> None:
        try:
            await self.processor.process_group([records for _, records, _ in members])
            for lane, records, epoch in members:
                self.committer.finished(lane.tp, records[-1].offset + 1, epoch)
        except asyncio.CancelledError:
            self._read_again(members)  # cancelled for a revocation: the partitions still ours read it again
            raise
        except Exception:
            # The processor finishes every record or raises only on cancellation; should that ever
            # break, the batches and what follows are fetched again rather than skipped.
            log.exception("batch_failed_unexpectedly", partitions=[f"{lane.tp.topic}/{lane.tp.partition}@"
                                                                   f"{records[0].offset}" for lane, records, _ in members])
            self._read_again(members)
            await asyncio.sleep(1)
        finally:
            for lane, _, _ in members:
                lane.busy, lane.group = False, None
                if lane.paused and len(lane.queued) < self.settings.lane_backlog // 2:
                    lane.paused = False
                    if lane.tp in self.consumer.assignment():
                        self.consumer.resume(lane.tp)
            self._slots.release()
            self._wake.set()

    def _read_again(self, members: list[tuple[_Lane, list[ConsumerRecord], int]]) -> None:
        for lane, records, _ in members:
            if self._lanes.get(lane.tp) is lane and lane.tp in self.consumer.assignment():
                lane.queued.clear()
                self._ready.pop(lane.tp, None)
                self.consumer.seek(lane.tp, records[0].offset)

    async def close_lanes(self, partitions: set[TopicPartition] | None, timeout: float) -> None:
        """Let the groups in flight holding `partitions` (or any) finish, cancel what takes longer,
        and drop what was fetched but not started."""
        lanes = [lane for tp, lane in self._lanes.items() if partitions is None or tp in partitions]
        for lane in lanes:
            lane.queued.clear()
            del self._lanes[lane.tp]
            self._ready.pop(lane.tp, None)
        groups = {lane.group for lane in lanes if lane.group is not None}
        if groups:
            _, late = await asyncio.wait(groups, timeout=timeout)
            for group in late:
                group.cancel()
            if late:
                log.warning("batches_cancelled", count=len(late), reason="took longer than allowed to finish")
            await asyncio.gather(*late, return_exceptions=True)

    async def stop(self) -> None:
        self._stopping = True
        self._tasks[0].cancel()
        await asyncio.gather(self._tasks[0], return_exceptions=True)
        await self.close_lanes(None, self.settings.drain_timeout_s)
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
        await self.owner.close_lanes(revoked, self.owner.settings.revoke_wait_s)
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
            lane = self.owner._lanes.get(tp)  # noqa: SLF001 - the listener is part of the consumer
            if lane is None:
                self.owner._open(tp)  # noqa: SLF001
            else:
                lane.epoch = self.owner.committer.epoch(tp)
        log.info("partitions_assigned", partitions=sorted(f"{tp.topic}/{tp.partition}" for tp in assigned))
