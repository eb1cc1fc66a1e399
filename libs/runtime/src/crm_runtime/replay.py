"""Feeding a topic from its beginning through a service's handlers, outside its consumer group.

A read model that a service starts keeping late (or keeps in a rebuilt database) cannot wait for
its group: the group's offsets are already past the events it needs. This reads every partition
from its first offset up to where it ended when the replay began, and hands the records to the
batch processor exactly as the consumer would (inbox, handlers, outbox, dead letters), so a
record the group delivers again afterwards is a duplicate the inbox knows.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer

from crm_contracts import Topic

from . import logs
from .batches import BatchProcessor
from .reading import assign_from_beginning, read_to_end
from .settings import client_args

log = logs.get(__name__)


async def from_beginning(processor: BatchProcessor, topic: Topic, kafka: str | dict, *, batch: int = 500) -> int:
    """Handle every record of `topic` there was when called; returns how many were read."""
    consumer = AIOKafkaConsumer(**client_args(kafka), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=batch)
    await consumer.start()
    try:
        read = 0
        async for fetched in read_to_end(consumer, await assign_from_beginning(consumer, [topic.name])):
            for records in fetched.values():
                await processor.process(records)
                read += len(records)
        log.info("replayed_from_beginning", topic=topic.name, records=read)
        return read
    finally:
        await consumer.stop()
