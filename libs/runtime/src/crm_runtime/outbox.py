"""Transactional outbox: handlers stage events in their business transaction; `relay`
publishes them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from crm_contracts import CloudEvent


# A NOTIFY payload is at most 8,000 bytes; a longer list of ids goes as '' (read the table).
NOTIFY_MOST = 7900


def channel_of(service: str) -> str:
    return f"outbox_{service}"


class Handover:
    """The rows this process stages, kept for its own relay so that it publishes them on their
    commit's NOTIFY without reading them back.

    Filled inside the staging transaction, before its commit; only a NOTIFY says a row committed,
    so a row of a transaction that rolled back is never taken, and leaves when the bound pushes it
    out. Open only while this process's relay holds the lock: a replica that does not publish keeps
    nothing. The table stays the truth: a row that is not here (another replica's, or pushed out)
    is read from it."""

    def __init__(self, most_bytes: int = 16 * 2**20) -> None:
        self.open = False
        self.most_bytes = most_bytes  # of payloads held: a relay that cannot publish keeps no more
        self.held_bytes = 0
        self._rows: dict[int, dict[str, Any]] = {}

    def put(self, ids: Sequence[int], events: Sequence[CloudEvent], payloads: Sequence[bytes]) -> None:
        if not self.open:
            return
        for row_id, event, payload in zip(ids, events, payloads, strict=True):
            self._rows[row_id] = {"id": row_id, "topic": event.topic, "key": event.key, "type": event.type,
                                  "payload": payload}
            self.held_bytes += len(payload)
        while self.held_bytes > self.most_bytes:
            self._drop(next(iter(self._rows)))  # the oldest

    def take(self, ids: Iterable[int]) -> tuple[list[dict[str, Any]], list[int]]:
        """The rows of `ids` held here, taken out; and the ids that are not."""
        held, missing = [], []
        for row_id in ids:
            row = self._drop(row_id)
            if row is None:
                missing.append(row_id)
            else:
                held.append(row)
        return held, missing

    def discard(self, ids: Iterable[int]) -> None:
        for row_id in ids:
            self._drop(row_id)

    def _drop(self, row_id: int) -> dict[str, Any] | None:
        row = self._rows.pop(row_id, None)
        if row is not None:
            self.held_bytes -= len(row["payload"])
        return row

    def close(self) -> None:
        self.open = False
        self._rows.clear()
        self.held_bytes = 0

    def __len__(self) -> int:
        return len(self._rows)


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


async def stage(conn: asyncpg.Connection, service: str, event: CloudEvent,
                handover: Handover | None = None) -> None:
    """Write `event` to the outbox inside the caller's transaction; NOTIFY wakes the relay on commit."""
    await stage_many(conn, service, [event], handover)


async def stage_many(conn: asyncpg.Connection, service: str, events: Sequence[CloudEvent],
                     handover: Handover | None = None) -> None:
    """Write `events`, in order, with one statement and one NOTIFY naming their ids, and keep them
    in `handover` for this process's relay.

    Call it last in the transaction, after every lock the transaction takes (the runtime stages a
    batch's events after all of its handlers ran): then a transaction that follows another —
    because it waited for its lock or read what it committed — gets higher outbox ids than it,
    and the relay publishes their events in that order. PostgreSQL delivers the NOTIFYs in commit
    order, so the relay learns of the two transactions in that order too.
    """
    if not events:
        return
    payloads = [e.to_json() for e in events]
    written = await conn.fetchrow(
        """WITH written AS (
               INSERT INTO outbox (event_id, topic, key, type, payload)
               SELECT e.id, e.topic, e.key, e.type, e.payload
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[])
                    WITH ORDINALITY AS e(id, topic, key, type, payload, n)
               ORDER BY e.n
               RETURNING id, event_id),
           listed AS (SELECT array_agg(id ORDER BY id) AS ids, array_agg(event_id ORDER BY id) AS events,
                             string_agg(id::text, ',' ORDER BY id) AS text
                      FROM written)
           SELECT ids, events FROM listed,
                  pg_notify($6, CASE WHEN length(text) <= $7 THEN text ELSE '' END)""",
        [e.id for e in events], [e.topic for e in events], [e.key for e in events],
        [e.type for e in events], payloads, channel_of(service), NOTIFY_MOST,
    )
    if handover is not None:
        # Matched by event id, not by position: the handover holds each id's own row.
        by_id = {e.id: (e, p) for e, p in zip(events, payloads, strict=True)}
        rows = [by_id[event_id] for event_id in written["events"]]
        handover.put(written["ids"], [e for e, _ in rows], [p for _, p in rows])
