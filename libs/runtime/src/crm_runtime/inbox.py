"""Inbox: remember which messages a consumer has handled, inside the handler's transaction."""

from __future__ import annotations

import asyncpg

from crm_contracts import CloudEvent


async def claim(conn: asyncpg.Connection, consumer: str, message: CloudEvent) -> bool:
    """True the first time `consumer` sees this message id; False for a redelivery."""
    inserted = await conn.fetchval(
        """INSERT INTO inbox (consumer, event_id, type) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING true""",
        consumer, message.id, message.type,
    )
    return bool(inserted)
