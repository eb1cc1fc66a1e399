"""A copy of each consumer group's committed offsets in the service's own database.

Kafka drops the committed offsets of a group that has been idle longer than the broker's
`offsets.retention.minutes`. With `auto_offset_reset="earliest"` such a group would silently
handle every record still on its topics again (e-mails and pushes sent twice). The copy lets a
group tell "never committed here" (a new service: start from the beginning) from "committed
once, forgotten since" (stop, and let an operator choose with `crm offsets`)."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
from aiokafka import TopicPartition


async def record(pool: asyncpg.Pool, group: str, offsets: dict[TopicPartition, int]) -> None:
    if not offsets:
        return
    tps = sorted(offsets, key=lambda tp: (tp.topic, tp.partition))
    await pool.execute(
        """INSERT INTO consumer_positions (group_id, topic, partition, next_offset)
           SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o)
           ON CONFLICT (group_id, topic, partition)
           DO UPDATE SET next_offset = GREATEST(consumer_positions.next_offset, EXCLUDED.next_offset),
                         recorded_at = now()""",
        group, [tp.topic for tp in tps], [tp.partition for tp in tps], [offsets[tp] for tp in tps])


async def recorded(conn: asyncpg.Connection | asyncpg.Pool, group: str,
                   tps: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, int]:
    rows = await conn.fetch("SELECT topic, partition, next_offset FROM consumer_positions WHERE group_id = $1", group)
    found = {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}
    return found if tps is None else {tp: o for tp, o in found.items() if tp in set(tps)}
