"""Reading and writing the platform's topics for a person at a terminal.

Readers use no consumer group: watching never takes records away from the services, and nothing
is committed on the cluster.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from crm_contracts import CloudEvent
from crm_runtime.reading import read_to_end

from .connection import Cluster


class Unreachable(Exception):
    """The cluster did not answer: said to the person in one line, never as a traceback."""


class UnknownTopic(Exception):
    pass


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    headers: dict[str, str]
    value: bytes | None
    event: CloudEvent | None  # None when the value is not a CloudEvent (e.g. a dead letter of junk)
    # The key and headers byte for byte, for what must go back unchanged (a replay); `key` and
    # `headers` above are decoded for people to read.
    raw_key: bytes | None = None
    raw_headers: tuple[tuple[str, bytes | None], ...] = ()


def _rec(m) -> Rec:
    try:
        event = CloudEvent.model_validate_json(m.value) if m.value is not None else None
    except ValueError:
        event = None
    return Rec(m.topic, m.partition, m.offset, m.timestamp, m.key.decode("utf-8", "replace") if m.key else None,
               {k: (v or b"").decode("utf-8", "replace") for k, v in m.headers or ()}, m.value, event,
               m.key, tuple(m.headers or ()))


@asynccontextmanager
async def started(client):
    try:
        await asyncio.wait_for(client.start(), 15)
    except (KafkaConnectionError, KafkaError, OSError, TimeoutError) as exc:
        await client.stop() if hasattr(client, "stop") else await client.close()
        raise Unreachable(repr(exc)) from None
    try:
        yield client
    finally:
        await client.stop() if hasattr(client, "stop") else await client.close()


def producer(cluster: Cluster) -> AIOKafkaProducer:
    return AIOKafkaProducer(**cluster.client_args(), enable_idempotence=True, acks="all")


def admin(cluster: Cluster) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**cluster.client_args())


class Tail:
    """Records of some topics from the moment it was opened; `batch()` returns what came since."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer

    async def batch(self, timeout_s: float) -> list[Rec]:
        got = await self.consumer.getmany(timeout_ms=int(timeout_s * 1000))
        return [_rec(m) for m in sorted((m for msgs in got.values() for m in msgs), key=lambda m: m.timestamp)]


@asynccontextmanager
async def tail(cluster: Cluster, topics: list[str]):
    consumer = AIOKafkaConsumer(**cluster.client_args(), group_id=None, enable_auto_commit=False)
    async with started(consumer):
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:  # positions resolved now, so nothing published after this is missed
            await consumer.position(tp)
        yield Tail(consumer)


async def read(cluster: Cluster, topics: list[str], *, start: str | int = "end", follow: bool = False,
               idle_s: float | None = None) -> AsyncIterator[Rec]:
    """Records of `topics` from `start` ("end", "beginning" or a time in ms since the epoch).

    Without `follow`, stops once it has read up to where each partition ended when it started;
    with it, goes on until `idle_s` seconds pass without a record (or forever).
    """
    # The reset policy matches `start`: a freshly assigned partition is first positioned by it,
    # and that first reset can land after an explicit seek and undo it.
    consumer = AIOKafkaConsumer(**cluster.client_args(), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest" if start == "beginning" else "latest")
    async with started(consumer):
        existing = await consumer.topics()
        missing = [t for t in topics if t not in existing]
        if missing:
            raise UnknownTopic(f"no topic {', '.join(missing)} on {cluster.bootstrap}")
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        if start == "end":
            targets = dict(ends)
        elif start == "beginning":
            targets = await consumer.beginning_offsets(tps)
        else:
            found = await consumer.offsets_for_times({tp: int(start) for tp in tps})
            targets = {tp: found[tp].offset if found.get(tp) else ends[tp] for tp in tps}
        for _ in range(3):  # seek until every position is where it was asked to be
            for tp in tps:
                consumer.seek(tp, targets[tp])
            if all([await consumer.position(tp) == targets[tp] for tp in tps]):
                break
        if not follow:
            async for fetched in read_to_end(consumer, ends, timeout_ms=200):
                for m in sorted((m for msgs in fetched.values() for m in msgs), key=lambda m: m.timestamp):
                    yield _rec(m)
            return
        quiet_since = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            records = sorted((m for msgs in batch.values() for m in msgs), key=lambda m: m.timestamp)
            for m in records:
                yield _rec(m)
            if records:
                quiet_since = time.monotonic()
            elif idle_s is not None and time.monotonic() - quiet_since > idle_s:
                return
