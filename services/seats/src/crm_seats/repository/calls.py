"""Bridge numbers and call settings."""

from __future__ import annotations

import json

import asyncpg


async def bridge_number(conn: asyncpg.Connection, account_id: str, user_id: str) -> str | None:
    return await conn.fetchval("SELECT number FROM bridge_numbers WHERE account_id = $1 AND user_id = $2",
                               account_id, user_id)


async def take_bridge_number(conn: asyncpg.Connection, account_id: str, user_id: str, *, prefix: str, digits: int,
                             count: int) -> str | None:
    """The lowest free number of the pool, now the user's; None when none is free (or another
    transaction took the one chosen — the caller tries again)."""
    return await conn.fetchval(
        """INSERT INTO bridge_numbers (number, account_id, user_id)
           SELECT n, $1, $2 FROM (SELECT $3 || lpad(g::text, $4, '0') AS n FROM generate_series(0, $5 - 1) g) pool
           WHERE NOT EXISTS (SELECT 1 FROM bridge_numbers b WHERE b.number = pool.n)
           ORDER BY n LIMIT 1
           ON CONFLICT DO NOTHING RETURNING number""", account_id, user_id, prefix, digits, count)


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
