"""A client of the platform as other services see it: publish commands, watch topics.

Tests and the demo use it; it reads every partition of the topics it watches from the moment
it starts, without a consumer group, so it never takes records away from the services.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from crm_contracts import TOPICS, CloudEvent, command, record_headers
from crm_runtime.rebootstrap import rebootstrapping
from crm_runtime.settings import client_args
from pydantic import BaseModel


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]
    value: bytes
    event: CloudEvent | None  # None when the value is not a CloudEvent (e.g. a dead letter of junk)
    raw_headers: tuple[tuple[str, bytes | None], ...] = ()  # as on the topic, byte for byte


class Bus:
    def __init__(self, kafka: str | dict, source: str = "test-suite", keep: bool = True) -> None:
        self.args = client_args(kafka)  # a bootstrap address, or `stack.kafka.args()` (SASL)
        self.bootstrap = self.args["bootstrap_servers"]
        self.source = source
        self.keep = keep  # False: remember only the first answer of each kind (for benchmarks)
        self.records: list[Record] = []
        # When each (type, correlation id) was first seen (perf_counter clock), and that event.
        self.arrivals: dict[tuple[str, str], float] = {}
        self.first: dict[tuple[str, str], CloudEvent] = {}
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self._arrived = asyncio.Condition()
        self._recorded: dict[TopicPartition, int] = {}  # the next offset to record, per partition

    async def start(self, watch: Iterable[str] | None = None) -> None:
        self._producer = rebootstrapping(AIOKafkaProducer(**self.args, acks="all", enable_idempotence=True))
        await self._producer.start()
        topics = list(watch) if watch is not None else [
            n for t in TOPICS.values() for n in (t.name, t.dlq)]
        self._consumer = rebootstrapping(AIOKafkaConsumer(**self.args, enable_auto_commit=False, group_id=None))
        await self._consumer.start()
        partitions = []
        for topic in topics:
            for p in self._consumer.partitions_for_topic(topic) or await self._partitions(topic):
                partitions.append(TopicPartition(topic, p))
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve positions now, so nothing published after start is missed
            self._recorded[tp] = await self._consumer.position(tp)
        self._task = asyncio.create_task(self._read())

    async def _partitions(self, topic: str) -> set[int]:
        assert self._consumer is not None  # started
        await self._consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka's documented path
        return self._consumer.partitions_for_topic(topic) or set()

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            fresh = []
            now = time.perf_counter()
            for tp, msgs in batch.items():
                for m in msgs:
                    try:
                        event = CloudEvent.model_validate_json(m.value)
                    except Exception:
                        event = None
                    fresh.append(Record(tp.topic, tp.partition, m.offset,
                                        m.key.decode() if m.key else None,
                                        {k: (v or b"").decode("utf-8", "replace") for k, v in m.headers or ()},
                                        m.value, event, tuple(m.headers or ())))
                    if event is not None and event.correlationid:
                        key = (event.type, event.correlationid)
                        if key not in self.arrivals:
                            self.arrivals[key] = now
                            self.first[key] = event
            if fresh:
                async with self._arrived:
                    if self.keep:
                        self.records.extend(fresh)
                    for tp, msgs in batch.items():
                        if msgs:
                            self._recorded[tp] = msgs[-1].offset + 1
                    self._arrived.notify_all()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()
        if self._producer:
            await self._producer.stop()

    # --- publishing -----------------------------------------------------------------------

    @property
    def producer(self) -> AIOKafkaProducer:
        assert self._producer is not None, "start() the bus first"
        return self._producer

    async def send(self, event: CloudEvent) -> CloudEvent:
        assert self._producer is not None
        await self._producer.send_and_wait(event.topic, event.to_json(), key=event.key.encode(),
                                           headers=record_headers(event.type))
        return event

    async def command(self, data: BaseModel, *, accountid: str, **attrs) -> CloudEvent:
        return await self.send(command(data, source=self.source, accountid=accountid, **attrs))

    async def send_raw(self, topic: str, value: bytes, key: str,
                       headers: list[tuple[str, bytes | None]] | None = None) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(topic, value, key=key.encode(), headers=headers)

    # --- watching -------------------------------------------------------------------------

    async def caught_up(self, timeout: float = 30.0) -> None:
        """Until everything on the watched topics now has been read (and recorded) by this bus."""
        assert self._consumer is not None
        partitions = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while any(self._recorded.get(tp, 0) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError("the bus did not catch up with its topics")
            await asyncio.sleep(0.1)

    def events(self, pred: Callable[[CloudEvent], bool] = lambda e: True) -> list[CloudEvent]:
        return [r.event for r in self.records if r.event is not None and pred(r.event)]

    def matching(self, pred: Callable[[Record], bool]) -> list[Record]:
        return [r for r in self.records if pred(r)]

    async def until(self, done: Callable[[], str | None], timeout: float) -> None:
        """Until `done()` returns None (it returns what is still missing), re-checked on each arrival."""
        deadline = time.monotonic() + timeout
        async with self._arrived:
            while (missing := done()) is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{missing} after {timeout}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)

    async def wait_answered(self, type_: str, correlation_ids: set[str], timeout: float = 30.0) -> None:
        """Until an event of `type_` was seen for every one of `correlation_ids`."""
        def done() -> str | None:
            missing = sum(1 for c in correlation_ids if (type_, c) not in self.arrivals)
            return f"{missing} of {len(correlation_ids)} never answered with {type_}" if missing else None

        await self.until(done, timeout)

    async def wait_for(self, pred: Callable[[Record], bool], *, count: int = 1,
                       timeout: float = 30.0) -> list[Record]:
        """The first `count` records satisfying `pred`, waiting up to `timeout` seconds."""
        found: list[Record] = []

        def done() -> str | None:
            nonlocal found
            found = [r for r in self.records if pred(r)]
            return None if len(found) >= count else f"saw {len(found)} of {count} expected records"

        await self.until(done, timeout)
        return found[:count]

    async def wait_event(self, type_: str, *, correlationid: str | None = None,
                         where: Callable[[CloudEvent], bool] = lambda e: True,
                         count: int = 1, timeout: float = 30.0) -> list[CloudEvent]:
        def pred(r: Record) -> bool:
            e = r.event
            return (e is not None and e.type == type_ and
                    (correlationid is None or e.correlationid == correlationid) and where(e))

        try:
            return [r.event for r in await self.wait_for(pred, count=count, timeout=timeout)]
        except TimeoutError as exc:
            # What did come back instead (a refusal, a dead letter) is what a failure needs to say.
            raise TimeoutError(f"{type_}: {exc}; {self.seen_for(correlationid)}") from None

    def seen_for(self, correlationid: str | None) -> str:
        if correlationid is None:
            return "no correlation id to look up what came instead"
        seen = [e.type + (f"({e.data['reason']})" if isinstance(e.data, dict) and "reason" in e.data else "")
                for e in self.events(lambda e: e.correlationid == correlationid)]
        return f"seen for correlation {correlationid}: {', '.join(seen) or 'nothing'}"
