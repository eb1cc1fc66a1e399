"""Inbox: remember which messages a consumer has handled, inside the handler's transaction.

A claim only has to outlive what can be delivered again: records not yet committed (seconds), and
dead letters replayed by hand, which their topics keep four weeks. So claims older than
`INBOX_KEEP_S` (a day past that) are deleted, a batch at a time, by the outbox relay's upkeep.
A consumer group reset to the beginning of an events topic (kept forever) would handle those
events again; read models are rebuilt into a fresh database instead, with an empty inbox."""

from __future__ import annotations

import asyncpg

from crm_contracts import CloudEvent


async def claim(conn: asyncpg.Connection, consumer: str, message: CloudEvent) -> bool:
    """True the first time `consumer` sees this message id; False for a redelivery."""
    return bool(await claim_many(conn, consumer, [message]))


async def claim_many(conn: asyncpg.Connection, consumer: str, messages: list[CloudEvent]) -> set[str]:
    """Claim a batch in one statement; returns the ids seen for the first time.

    A row another transaction is inserting at the same moment (a partition handed over while its
    old owner still finishes) makes this wait for that transaction, then count as seen: the
    message is handled by exactly one of them.
    """
    if not messages:
        return set()
    rows = await conn.fetch(
        """INSERT INTO inbox (consumer, event_id, type)
           SELECT $1, m.id, m.type FROM unnest($2::text[], $3::text[]) AS m(id, type)
           ON CONFLICT DO NOTHING RETURNING event_id""",
        consumer, [m.id for m in messages], [m.type for m in messages],
    )
    return {r["event_id"] for r in rows}


# By `inbox_received`: a range of the index, not the table (tests EXPLAIN it on 100,000 rows).
PRUNE = """DELETE FROM inbox WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM inbox WHERE received_at < now() - make_interval(secs => $1) LIMIT $2))"""


async def prune(conn: asyncpg.Connection | asyncpg.Pool, keep_s: float, limit: int = 10_000) -> int:
    """Delete up to `limit` claims older than `keep_s`; how many went."""
    return int((await conn.execute(PRUNE, keep_s, limit)).split()[-1])
