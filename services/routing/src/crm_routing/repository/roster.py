"""The roster as identity publishes it: instances, members, statuses, API keys, Zillow targets."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from ..domain.router import Member


# --- the roster -------------------------------------------------------------------------------


async def upsert_instance(conn: asyncpg.Connection, *, instance_id: str, account_id: str, kind: str,
                          package: str | None, routing: bool, owner_user_id: str, name: str | None,
                          website_id: str | None, parsing_email: str | None) -> None:
    await conn.execute(
        """INSERT INTO instances (instance_id, account_id, kind, package, routing, owner_user_id, name, website_id,
                                  parsing_email)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (instance_id) DO UPDATE SET package = EXCLUDED.package, routing = EXCLUDED.routing,
               name = EXCLUDED.name, website_id = EXCLUDED.website_id, parsing_email = EXCLUDED.parsing_email""",
        instance_id, account_id, kind, package, routing, owner_user_id, name, website_id, parsing_email)


async def set_owner(conn: asyncpg.Connection, instance_id: str, owner_user_id: str) -> None:
    await conn.execute("UPDATE instances SET owner_user_id = $2 WHERE instance_id = $1", instance_id, owner_user_id)


async def close_instance(conn: asyncpg.Connection, instance_id: str, read_only_until: datetime) -> None:
    await conn.execute(
        """WITH t AS (DELETE FROM timers WHERE lead_id IN (SELECT lead_id FROM leads WHERE instance_id = $1))
           UPDATE instances SET read_only_until = $2 WHERE instance_id = $1""", instance_id, read_only_until)


async def rename_instance(conn: asyncpg.Connection, instance_id: str, name: str) -> None:
    await conn.execute("UPDATE instances SET name = $2 WHERE instance_id = $1", instance_id, name)


async def set_member(conn: asyncpg.Connection, instance_id: str, user_id: str, role: str,
                     capture_email: str | None = None) -> None:
    await conn.execute(
        """INSERT INTO members (instance_id, user_id, role) VALUES ($1, $2, $3)
           ON CONFLICT (instance_id, user_id) DO UPDATE SET role = EXCLUDED.role""", instance_id, user_id, role)
    if capture_email:
        await conn.execute("INSERT INTO capture_addresses (address, instance_id, user_id) VALUES ($1, $2, $3) "
                           "ON CONFLICT (address) DO NOTHING", capture_email.lower(), instance_id, user_id)


async def remove_member(conn: asyncpg.Connection, instance_id: str, user_id: str) -> str | None:
    """Take the member out (and out of the paused list); if the instance had their Zillow leads,
    those fall back to the account's Enterprise instance, whose id is returned."""
    return await conn.fetchval(
        """WITH gone AS (DELETE FROM members WHERE instance_id = $1 AND user_id = $2),
                unpaused AS (DELETE FROM paused WHERE instance_id = $1 AND user_id = $2)
           UPDATE zillow_targets z
           SET instance_id = e.instance_id, reason = 'left_instance', from_instance_id = $1
           FROM instances e
           WHERE z.instance_id = $1 AND z.user_id = $2 AND e.account_id = z.account_id
             AND e.kind = 'enterprise' AND e.instance_id <> $1
           RETURNING e.instance_id""", instance_id, user_id)


async def set_status(conn: asyncpg.Connection, account_id: str, user_id: str, status: str,
                     administers: bool | None = None) -> None:
    """The user's status in the account, and whether they administer it when that is said."""
    await conn.execute(
        """INSERT INTO statuses (account_id, user_id, status, administers) VALUES ($1, $2, $3, coalesce($4, false))
           ON CONFLICT (account_id, user_id)
           DO UPDATE SET status = EXCLUDED.status, administers = coalesce($4, statuses.administers)""",
        account_id, user_id, status, administers)


async def set_administers(conn: asyncpg.Connection, account_id: str, user_id: str, administers: bool) -> None:
    await conn.execute("UPDATE statuses SET administers = $3 WHERE account_id = $1 AND user_id = $2",
                       account_id, user_id, administers)


async def set_api_key(conn: asyncpg.Connection, key_hash: str, instance_id: str, key_id: str, revoked: bool) -> None:
    await conn.execute(
        """INSERT INTO api_keys (key_hash, instance_id, key_id, revoked) VALUES ($1, $2, $3, $4)
           ON CONFLICT (key_hash) DO UPDATE SET revoked = api_keys.revoked OR EXCLUDED.revoked""",
        key_hash, instance_id, key_id, revoked)


async def api_key_by_id(conn: asyncpg.Connection, key_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT key_id, instance_id, revoked FROM api_keys WHERE key_id = $1", key_id)


async def touch_api_key(conn: asyncpg.Connection, key_id: str, used_at: datetime) -> str | None:
    """Note the key's use when the last one noted is a minute older or more; its instance if so."""
    return await conn.fetchval(
        """UPDATE api_keys SET last_used_at = $2
           WHERE key_id = $1 AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - interval '1 minute')
           RETURNING instance_id""", key_id, used_at)


async def api_key(conn: asyncpg.Connection, key_hash: str) -> asyncpg.Record | None:
    """The key (by the SHA-256 of the key) with its instance, revoked or not."""
    return await conn.fetchrow(
        "SELECT k.key_id, k.instance_id, k.revoked, i.account_id, i.kind, i.read_only_until "
        "FROM api_keys k JOIN instances i USING (instance_id) "
        "WHERE k.key_hash = $1", key_hash)


async def get_instance(conn: asyncpg.Connection, instance_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM instances WHERE instance_id = $1", instance_id)


async def find_instance(conn: asyncpg.Connection, *, website_id: str | None = None, parsing_email: str | None = None,
                        key_hash: str | None = None) -> asyncpg.Record | None:
    if website_id is not None:
        return await conn.fetchrow("SELECT * FROM instances WHERE website_id = $1", website_id)
    if parsing_email is not None:
        return await conn.fetchrow(
            """SELECT i.* FROM instances i WHERE lower(i.parsing_email) = lower($1)
               UNION ALL
               SELECT i.* FROM capture_addresses c JOIN instances i USING (instance_id) WHERE c.address = lower($1)
               LIMIT 1""", parsing_email)
    return await conn.fetchrow(
        "SELECT i.* FROM api_keys k JOIN instances i USING (instance_id) WHERE k.key_hash = $1 AND NOT k.revoked",
        key_hash)


async def zillow_instance(conn: asyncpg.Connection, account_id: str, user_id: str) -> asyncpg.Record | None:
    """The instance the user chose for Zillow leads while they are a member of it, else their
    Enterprise account's own; `reason` and `from_instance_id` say why."""
    return await conn.fetchrow(
        """SELECT i.*, z.reason, z.from_instance_id FROM zillow_targets z JOIN instances i USING (instance_id)
           WHERE z.account_id = $1 AND z.user_id = $2 AND i.read_only_until IS NULL
             AND EXISTS (SELECT 1 FROM members m WHERE m.instance_id = i.instance_id AND m.user_id = $2)
           UNION ALL
           SELECT i.*, 'no_choice', NULL FROM instances i WHERE i.account_id = $1 AND i.kind = 'enterprise'
             AND EXISTS (SELECT 1 FROM members m WHERE m.instance_id = i.instance_id AND m.user_id = $2)
           LIMIT 1""", account_id, user_id)


async def roster(conn: asyncpg.Connection, instance_id: str) -> dict[str, Member]:
    rows = await conn.fetch(
        """SELECT m.user_id, s.status, (p.user_id IS NOT NULL) AS paused
           FROM members m JOIN instances i USING (instance_id)
           LEFT JOIN statuses s ON s.account_id = i.account_id AND s.user_id = m.user_id
           LEFT JOIN paused p ON p.instance_id = m.instance_id AND p.user_id = m.user_id
           WHERE m.instance_id = $1""", instance_id)
    return {r["user_id"]: Member(r["user_id"], r["status"], r["paused"]) for r in rows}


async def is_member(conn: asyncpg.Connection, instance_id: str, user_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM members WHERE instance_id = $1 AND user_id = $2",
                                    instance_id, user_id))


async def set_paused(conn: asyncpg.Connection, instance_id: str, user_id: str, paused: bool) -> None:
    if paused:
        await conn.execute("INSERT INTO paused VALUES ($1, $2) ON CONFLICT DO NOTHING", instance_id, user_id)
    else:
        await conn.execute("DELETE FROM paused WHERE instance_id = $1 AND user_id = $2", instance_id, user_id)


async def set_zillow_target(conn: asyncpg.Connection, account_id: str, user_id: str, instance_id: str) -> None:
    await conn.execute(
        """INSERT INTO zillow_targets (account_id, user_id, instance_id) VALUES ($1, $2, $3)
           ON CONFLICT (account_id, user_id)
           DO UPDATE SET instance_id = EXCLUDED.instance_id, reason = 'chosen', from_instance_id = NULL""",
        account_id, user_id, instance_id)


async def record_rebuild(conn: asyncpg.Connection, events: int) -> None:
    await conn.execute("INSERT INTO roster_rebuilds (events) VALUES ($1)", events)


async def rebuilt(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT true FROM roster_rebuilds LIMIT 1"))
