"""Feeding a topic from its beginning through a service's handlers, outside its consumer group.

A read model that a service starts keeping late (or keeps in a rebuilt database) cannot wait for
its group: the group's offsets are already past the events it needs. This reads every partition
from its first offset up to where it ended when the replay began, and hands the records to the
batch processor exactly as the consumer would (inbox, handlers, outbox, dead letters), so a
record the group delivers again afterwards is a duplicate the inbox knows.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from crm_contracts import Topic

from . import logs
from .consuming import BatchProcessor
from .settings import client_args

log = logs.get(__name__)


async def from_beginning(processor: BatchProcessor, topic: Topic, kafka: str | dict, *, batch: int = 500) -> int:
    """Handle every record of `topic` there was when called; returns how many were read."""
    consumer = AIOKafkaConsumer(**client_args(kafka), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=batch)
    await consumer.start()
    try:
        tps = [TopicPartition(topic.name, p) for p in sorted(consumer.partitions_for_topic(topic.name) or ())]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, starts[tp])
        read = 0
        remaining = {tp for tp in tps if starts[tp] < ends[tp]}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in fetched.items():
                records = [r for r in records if r.offset < ends[tp]]
                if records:
                    await processor.process(records)
                    read += len(records)
                if records and records[-1].offset >= ends[tp] - 1 or await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        log.info("replayed_from_beginning", topic=topic.name, records=read)
        return read
    finally:
        await consumer.stop()


async def read_all(topics: list[Topic], kafka: str | dict, keep=lambda record: True) -> list:
    """Every record of `topics` there was when called that `keep` accepts, in the order they were
    written across topics (record time, then topic, partition, offset)."""
    consumer = AIOKafkaConsumer(**client_args(kafka), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=2000)
    await consumer.start()
    try:
        tps = [TopicPartition(t.name, p) for t in topics for p in sorted(consumer.partitions_for_topic(t.name) or ())]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, starts[tp])
        kept = []
        remaining = {tp for tp in tps if starts[tp] < ends[tp]}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in fetched.items():
                kept.extend(r for r in records if r.offset < ends[tp] and keep(r))
                if records and records[-1].offset >= ends[tp] - 1:
                    remaining.discard(tp)
        return sorted(kept, key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))
    finally:
        await consumer.stop()


async def feed_in_order(processor: BatchProcessor, records: list) -> int:
    """Hand `records` to the processor one run of a partition at a time, in the order given."""
    run: list = []
    for r in records:
        if run and (r.topic, r.partition) != (run[-1].topic, run[-1].partition):
            await processor.process(run)
            run = []
        run.append(r)
    if run:
        await processor.process(run)
    return len(records)
