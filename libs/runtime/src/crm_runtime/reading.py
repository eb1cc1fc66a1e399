"""Reading partitions outside any consumer group up to where they ended when the reading began:
the one loop for a replay, the operator's CLI and the test helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def assign_from_beginning(consumer: AIOKafkaConsumer, topics: list[str]) -> dict[TopicPartition, int]:
    """Assign every partition of `topics` at its first offset; returns where each ends now."""
    tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps)
    starts = await consumer.beginning_offsets(tps)
    for tp in tps:
        consumer.seek(tp, starts[tp])
    return ends


async def read_to_end(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int], *, timeout_ms: int = 500
                      ) -> AsyncIterator[dict[TopicPartition, list[ConsumerRecord]]]:
    """Each fetch's records below `ends`, by partition, until every partition's position has
    reached its end. The position is what is checked, not the last offset seen: transaction
    markers and compaction leave offsets no record has, and a partition ending on one would
    otherwise be waited for forever."""
    remaining = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    while remaining:
        fetched = await consumer.getmany(*remaining, timeout_ms=timeout_ms)
        kept = {tp: below for tp, records in fetched.items() if (below := [r for r in records if r.offset < ends[tp]])}
        if kept:
            yield kept
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
