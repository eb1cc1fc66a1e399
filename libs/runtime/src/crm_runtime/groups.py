"""Which fetched records run together: a lane per partition, and groups of lanes, each one
transaction (decision 0008).

Each assigned partition has a lane: the records fetched for it and not yet started. Whenever
records wait and one of `max_concurrent_partitions` slots is free, the lanes not already in flight
are taken together as a group — up to `fetch_max_records` records from up to
`group_max_partitions` lanes, those waiting longest first — and handed to the `BatchProcessor`,
which tries the group as one transaction (each partition's records in order) and splits it into a
transaction per partition when anything in it fails. A lane is in at most one group at a time, so
a partition's records are never handled out of order. When the group is finished its offsets are
marked, per partition with the epoch of the assignment it was formed under.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from . import logs
from .batches import BatchProcessor
from .offsets import OffsetCommitter
from .settings import ServiceSettings

log = logs.get(__name__)


@dataclass(eq=False)
class Lane:
    tp: TopicPartition
    epoch: int
    queued: list[ConsumerRecord] = field(default_factory=list)
    paused: bool = False
    group: asyncio.Task | None = None  # the group in flight holding its records

    @property
    def busy(self) -> bool:
        return self.group is not None


# A lane in a group: the records taken from it, and the epoch of its assignment at the time.
Member = tuple[Lane, list[ConsumerRecord], int]


class Groups:
    def __init__(self, consumer: AIOKafkaConsumer, processor: BatchProcessor, committer: OffsetCommitter,
                 settings: ServiceSettings) -> None:
        self.consumer, self.processor, self.committer, self.settings = consumer, processor, committer, settings
        self.lanes: dict[TopicPartition, Lane] = {}
        # Partitions with records waiting, those waiting longest first (a dict: an ordered set).
        self._ready: dict[TopicPartition, None] = {}
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_concurrent_partitions)

    def open(self, tp: TopicPartition) -> None:
        self.lanes[tp] = Lane(tp, self.committer.epoch(tp))

    def add(self, lane: Lane, records: list[ConsumerRecord]) -> None:
        """Fetched records for `lane`; its partition is paused once `lane_backlog` of them wait."""
        lane.queued.extend(records)
        self._ready.setdefault(lane.tp, None)
        self._wake.set()
        if len(lane.queued) >= self.settings.lane_backlog and not lane.paused:
            self.consumer.pause(lane.tp)
            lane.paused = True

    async def run(self) -> None:
        """Whenever records wait and a slot is free, start a group with them."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while any(not lane.busy for tp in self._ready if (lane := self.lanes.get(tp)) is not None):
                await self._slots.acquire()
                members = self._form()  # after the wait: lanes may have gone or filled meanwhile
                if not members:
                    self._slots.release()
                    break
                task = asyncio.create_task(self._run_group(members), name="group")
                for lane, _, _ in members:
                    lane.group = task

    def _form(self) -> list[Member]:
        """Up to `fetch_max_records` records from up to `group_max_partitions` idle lanes, those
        waiting longest first; a lane not emptied goes to the back, so a busy partition cannot
        keep the others waiting. The caller marks them busy (gives them the group's task) before
        anything else runs."""
        members: list[Member] = []
        room = self.settings.fetch_max_records
        for tp in list(self._ready):
            lane = self.lanes.get(tp)
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
            members.append((lane, records, lane.epoch))
            room -= len(records)
            if room <= 0 or len(members) >= self.settings.group_max_partitions:
                break
        return members

    async def _run_group(self, members: list[Member]) -> None:
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
                lane.group = None
                if lane.paused and len(lane.queued) < self.settings.lane_backlog // 2:
                    lane.paused = False
                    if lane.tp in self.consumer.assignment():
                        self.consumer.resume(lane.tp)
            self._slots.release()
            self._wake.set()

    def _read_again(self, members: list[Member]) -> None:
        for lane, records, _ in members:
            if self.lanes.get(lane.tp) is lane and lane.tp in self.consumer.assignment():
                lane.queued.clear()
                self._ready.pop(lane.tp, None)
                self.consumer.seek(lane.tp, records[0].offset)

    async def close(self, partitions: set[TopicPartition] | None, timeout: float) -> None:
        """Let the groups in flight holding `partitions` (or any) finish, cancel what takes longer,
        and drop what was fetched but not started."""
        lanes = [lane for tp, lane in self.lanes.items() if partitions is None or tp in partitions]
        for lane in lanes:
            lane.queued.clear()
            del self.lanes[lane.tp]
            self._ready.pop(lane.tp, None)
        groups = {lane.group for lane in lanes if lane.group is not None}
        if groups:
            _, late = await asyncio.wait(groups, timeout=timeout)
            for group in late:
                group.cancel()
            if late:
                log.warning("batches_cancelled", count=len(late), reason="took longer than allowed to finish")
            await asyncio.gather(*late, return_exceptions=True)
