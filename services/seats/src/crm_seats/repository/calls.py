"""Bridge numbers and call settings."""

from __future__ import annotations

import hashlib
import json

import asyncpg


async def bridge_number(conn: asyncpg.Connection, account_id: str, user_id: str) -> str | None:
    return await conn.fetchval("SELECT number FROM bridge_numbers WHERE account_id = $1 AND user_id = $2",
                               account_id, user_id)


async def take_bridge_number(conn: asyncpg.Connection, account_id: str, user_id: str, *, prefix: str, digits: int,
                             count: int) -> str | None:
    """A number of the pool for the user, now theirs; None when none is free (or another
    transaction took the one chosen — the caller tries again).

    The search starts at a slot derived from the account and user, not at the lowest free number:
    which number a user gets then does not depend on the order other accounts' purchases were
    handled in, so a rebuilt database (a replay of seats' input topics) gives them the same one,
    unless two users' slots collide."""
    start = int(hashlib.sha256(f"{account_id}/{user_id}".encode()).hexdigest()[:12], 16) % count
    return await conn.fetchval(
        # generate_series yields in order and LIMIT stops at the first free slot: no full scan
        """INSERT INTO bridge_numbers (number, account_id, user_id)
           SELECT n, $1, $2 FROM (SELECT $3 || lpad((($6 + k) % $5)::text, $4, '0') AS n
                                  FROM generate_series(0, $5 - 1) k) pool
           WHERE NOT EXISTS (SELECT 1 FROM bridge_numbers b WHERE b.number = pool.n)
           LIMIT 1
           ON CONFLICT DO NOTHING RETURNING number""", account_id, user_id, prefix, digits, count, start)


async def save_call_settings(conn: asyncpg.Connection, account_id: str, instance_id: str, user_id: str,
                             settings: dict) -> None:
    await conn.execute(
        """INSERT INTO call_settings (instance_id, user_id, account_id, settings) VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (instance_id, user_id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = now()""",
        instance_id, user_id, account_id, json.dumps(settings))


async def call_settings(conn: asyncpg.Connection, instance_id: str, user_id: str) -> dict | None:
    raw = await conn.fetchval("SELECT settings::text FROM call_settings WHERE instance_id = $1 AND user_id = $2",
                              instance_id, user_id)
    return json.loads(raw) if raw else None
