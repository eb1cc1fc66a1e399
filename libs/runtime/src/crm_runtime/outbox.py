"""Transactional outbox: handlers stage events in their business transaction; `relay.py`
publishes them."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from crm_contracts import CloudEvent


def channel_of(service: str) -> str:
    return f"outbox_{service}"


async def dead_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Rows the relay set aside, oldest first, with why."""
    return await conn.fetch("""SELECT id, event_id, topic, key, type, length(payload) AS size, created_at, error,
                                      set_aside_at FROM outbox_dead ORDER BY id""")


async def requeue_dead(conn: asyncpg.Connection, service: str, ids: Sequence[int] | None = None) -> int:
    """Put set-aside rows (all, or `ids`) back in the outbox, behind what waits there, and wake the
    relay. Their event ids are kept, so a consumer that saw one already drops it."""
    async with conn.transaction():
        moved = await conn.fetchval(
            """WITH moved AS (DELETE FROM outbox_dead WHERE $1::bigint[] IS NULL OR id = ANY($1::bigint[])
                              RETURNING *),
                    written AS (INSERT INTO outbox (event_id, topic, key, type, payload, created_at)
                                SELECT event_id, topic, key, type, payload, created_at FROM moved ORDER BY id
                                RETURNING 1)
               SELECT count(*) FROM written""", None if ids is None else list(ids))
        if moved:
            await conn.execute("SELECT pg_notify($1, '')", channel_of(service))
    return moved


async def stage(conn: asyncpg.Connection, service: str, event: CloudEvent) -> None:
    """Write `event` to the outbox inside the caller's transaction; NOTIFY wakes the relay on commit."""
    await stage_many(conn, service, [event])


async def stage_many(conn: asyncpg.Connection, service: str, events: Sequence[CloudEvent]) -> None:
    """Write `events`, in order, with one statement and one NOTIFY.

    Call it last in the transaction, after every lock the transaction takes (the runtime stages a
    batch's events after all of its handlers ran): then a transaction that follows another —
    because it waited for its lock or read what it committed — gets higher outbox ids than it,
    and the relay publishes their events in that order.
    """
    if not events:
        return
    await conn.execute(
        """WITH written AS (
               INSERT INTO outbox (event_id, topic, key, type, payload)
               SELECT e.id, e.topic, e.key, e.type, e.payload
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[])
                    WITH ORDINALITY AS e(id, topic, key, type, payload, n)
               ORDER BY e.n
               RETURNING 1)
           SELECT pg_notify($6, '') WHERE EXISTS (SELECT FROM written)""",
        [e.id for e in events], [e.topic for e in events], [e.key for e in events],
        [e.type for e in events], [e.to_json() for e in events], channel_of(service),
    )
