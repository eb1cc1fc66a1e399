"""Reading whole topics in the order they were written, and feeding records to a processor."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from crm_contracts import Topic
from crm_runtime.batches import BatchProcessor
from crm_runtime.reading import assign_from_beginning, read_to_end
from crm_runtime.settings import client_args


async def read_all(topics: list[Topic], kafka: str | dict, keep=lambda record: True) -> list:
    """Every record of `topics` there was when called that `keep` accepts, in the order they were
    written across topics (record time, then topic, partition, offset)."""
    consumer = AIOKafkaConsumer(**client_args(kafka), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=2000)
    await consumer.start()
    try:
        kept: list[ConsumerRecord] = []
        async for fetched in read_to_end(consumer, await assign_from_beginning(consumer, [t.name for t in topics])):
            kept.extend(r for records in fetched.values() for r in records if keep(r))
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
