"""Inbox: remember which messages a consumer has handled, inside the handler's transaction."""

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


async def release(conn: asyncpg.Connection, consumer: str, message_id: str) -> None:
    """Forget a claim, for a message that ends dead-lettered: replaying it must handle it."""
    await conn.execute("DELETE FROM inbox WHERE consumer = $1 AND event_id = $2", consumer, message_id)
