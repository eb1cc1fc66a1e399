"""Instances, their members and their API keys."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from ..domain.instances import SIGN_IN_STATUSES, Instance, addresses


_INSTANCE_COLUMNS = ("instance_id, account_id, kind, owner_user_id, package, name, parsing_email, website_id, status, "
                     "mls_id")


def _instance(row: asyncpg.Record | None) -> Instance | None:
    return Instance(**dict(row)) if row is not None else None


async def get_instance(conn: asyncpg.Connection, instance_id: str, *, for_update: bool = False) -> Instance | None:
    lock = " FOR UPDATE" if for_update else ""
    return _instance(await conn.fetchrow(
        f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE instance_id = $1{lock}", instance_id))


async def owned_instance(conn: asyncpg.Connection, account_id: str, user_id: str) -> Instance | None:
    return _instance(await conn.fetchrow(
        f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE account_id = $1 AND owner_user_id = $2 "
        "AND kind = 'private' AND status <> 'cancelled'", account_id, user_id))


async def insert_instance(conn: asyncpg.Connection, i: Instance) -> bool:
    """False (nothing written) when the owner already has a private instance, even one a
    concurrent transaction is still creating: the unique index makes that one wait for it."""
    return bool(await conn.fetchval(
        f"""INSERT INTO instances ({_INSTANCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (account_id, owner_user_id) WHERE kind = 'private' AND status <> 'cancelled'
            DO NOTHING RETURNING true""",
        i.instance_id, i.account_id, i.kind, i.owner_user_id, i.package, i.name, i.parsing_email, i.website_id,
        i.status, i.mls_id))


async def set_instance_status(conn: asyncpg.Connection, instance_id: str, status: str,
                              read_only_until: datetime | None = None) -> None:
    await conn.execute("UPDATE instances SET status = $2, read_only_until = $3 WHERE instance_id = $1",
                       instance_id, status, read_only_until)


async def hand_over(conn: asyncpg.Connection, instance: Instance, to_user_id: str) -> bool:
    """Make `to_user_id` the owner (and an active instance); False (nothing written) when they own
    another instance already, even one being bought at this moment (the unique index waits)."""
    try:
        async with conn.transaction():
            await conn.execute("UPDATE instances SET owner_user_id = $2, status = 'active' WHERE instance_id = $1",
                               instance.instance_id, to_user_id)
    except asyncpg.UniqueViolationError:
        return False
    return True


async def revoke_instance_invitations(conn: asyncpg.Connection, instance_id: str) -> None:
    await conn.execute("UPDATE invitations SET state = 'revoked' WHERE instance_id = $1 AND state = 'pending'",
                       instance_id)


async def instance_member_ids(conn: asyncpg.Connection, instance_id: str) -> list[str]:
    return [r[0] for r in await conn.fetch("SELECT user_id FROM instance_members WHERE instance_id = $1 ORDER BY 1",
                                           instance_id)]


async def rename_instance(conn: asyncpg.Connection, instance_id: str, name: str) -> None:
    await conn.execute("UPDATE instances SET name = $2 WHERE instance_id = $1", instance_id, name)


async def instance_role(conn: asyncpg.Connection, instance_id: str, user_id: str) -> str | None:
    return await conn.fetchval("SELECT role FROM instance_members WHERE instance_id = $1 AND user_id = $2",
                               instance_id, user_id)


async def add_instance_member(conn: asyncpg.Connection, instance: Instance, user_id: str, role: str,
                              sending_email: str, capture_email: str) -> bool:
    return bool(await conn.fetchval(
        """INSERT INTO instance_members (instance_id, account_id, user_id, role, sending_email, capture_email)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (instance_id, user_id) DO NOTHING RETURNING true""",
        instance.instance_id, instance.account_id, user_id, role, sending_email, capture_email))


async def set_instance_role(conn: asyncpg.Connection, instance_id: str, user_id: str, role: str) -> None:
    await conn.execute("UPDATE instance_members SET role = $3 WHERE instance_id = $1 AND user_id = $2",
                       instance_id, user_id, role)


async def remove_instance_member(conn: asyncpg.Connection, instance_id: str, user_id: str) -> str | None:
    """The role the member had, or None if they were not a member."""
    return await conn.fetchval("DELETE FROM instance_members WHERE instance_id = $1 AND user_id = $2 RETURNING role",
                               instance_id, user_id)


async def leave_private_instances(conn: asyncpg.Connection, account_id: str, user_id: str) -> list[asyncpg.Record]:
    """Take the user out of every private instance they belong to but do not own."""
    return await conn.fetch(
        """DELETE FROM instance_members m USING instances i
           WHERE m.instance_id = i.instance_id AND i.kind = 'private' AND i.owner_user_id <> m.user_id
             AND m.account_id = $1 AND m.user_id = $2
           RETURNING m.instance_id, m.role""", account_id, user_id)


# Driven from the user's own rows (the accounts they own or belong to), so it reads indexes however
# many accounts there are (tests EXPLAIN it on 100,000 rows).
INSTANCES_OF = """
    SELECT i.instance_id, i.account_id, i.kind, i.name, i.package, i.owner_user_id, i.parsing_email,
           i.website_id, m.role, m.sending_email, m.capture_email, m.joined_at, (i.owner_user_id = m.user_id) AS owner,
           i.status, i.read_only_until, i.mls_id
    FROM instance_members m JOIN instances i USING (instance_id)
    WHERE m.user_id = $1 AND ($2::text IS NULL OR m.account_id = $2)
    UNION ALL
    SELECT i.instance_id, i.account_id, i.kind, i.name, i.package, i.owner_user_id, i.parsing_email,
           i.website_id, coalesce(mb.role, 'owner'), NULL, NULL, coalesce(mb.created_at, a.created_at),
           (i.owner_user_id = $1), i.status, i.read_only_until, i.mls_id
    FROM (SELECT account_id FROM accounts WHERE owner_user_id = $1
          UNION SELECT account_id FROM members WHERE user_id = $1 AND status NOT IN ('inactive', 'display_only')
         ) mine
    JOIN accounts a USING (account_id)
    JOIN instances i ON i.account_id = a.account_id AND i.kind = 'enterprise'
    LEFT JOIN members mb ON mb.account_id = a.account_id AND mb.user_id = $1
    WHERE ($2::text IS NULL OR a.account_id = $2)
    ORDER BY 12, 1"""


async def instances_of(conn: asyncpg.Connection, user_id: str, account_id: str | None) -> list[dict]:
    """The user's instances: their Enterprise account's own (as owner, or as a member who can be
    given access) and every private instance they own or joined."""
    rows = await conn.fetch(INSTANCES_OF, user_id, account_id)
    found = [dict(r) for r in rows]
    for row in found:
        if row["sending_email"] is None:
            row["sending_email"], row["capture_email"] = addresses(user_id, row["instance_id"])
    return found


# The account's people (its members, and its owner, who need not be a member row) who can sign in
# and are neither in the instance nor invited to it: whom its owner may invite (the PI "add
# members from your primary Enterprise account" pop-up). Keyset-paged by user id.
CANDIDATES = """
    WITH people AS (
        SELECT m.user_id, m.first_name, m.last_name, m.email, m.group_id, m.user_type, m.status
        FROM members m WHERE m.account_id = $2
        UNION ALL
        SELECT a.owner_user_id, a.owner_first_name, a.owner_last_name, a.owner_email, NULL, 'platform', 'active'
        FROM accounts a WHERE a.account_id = $2
          AND NOT EXISTS (SELECT 1 FROM members m WHERE m.account_id = $2 AND m.user_id = a.owner_user_id))
    SELECT p.user_id, p.first_name, p.last_name, p.email, p.group_id, g.name AS group_name
    FROM people p LEFT JOIN groups g ON g.account_id = $2 AND g.group_id = p.group_id
    WHERE p.user_type = 'platform' AND p.status = ANY($3::text[]) AND p.user_id > $5
      AND NOT EXISTS (SELECT 1 FROM instance_members im WHERE im.instance_id = $1 AND im.user_id = p.user_id)
      AND NOT EXISTS (SELECT 1 FROM invitations i WHERE i.instance_id = $1 AND i.user_id = p.user_id
                        AND i.state = 'pending' AND i.expires_at > $4)
    ORDER BY p.user_id LIMIT $6"""


async def invitation_candidates(conn: asyncpg.Connection, instance: Instance, *, at: datetime, after: str = "",
                                limit: int = 100) -> list[dict]:
    rows = await conn.fetch(CANDIDATES, instance.instance_id, instance.account_id, list(SIGN_IN_STATUSES), at,
                            after, limit)
    return [dict(r) for r in rows]


async def instance_members(conn: asyncpg.Connection, instance_id: str) -> list[dict]:
    rows = await conn.fetch("SELECT user_id, role, joined_at FROM instance_members WHERE instance_id = $1 "
                            "ORDER BY joined_at, user_id", instance_id)
    return [dict(r) for r in rows]


async def insert_api_key(conn: asyncpg.Connection, instance_id: str, key_id: str, name: str, key_hash: str,
                         last_four: str) -> bool:
    return bool(await conn.fetchval(
        """INSERT INTO api_keys (key_id, instance_id, name, key_hash, last_four) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING RETURNING true""", key_id, instance_id, name, key_hash, last_four))


async def revoke_api_key(conn: asyncpg.Connection, instance_id: str, key_id: str) -> asyncpg.Record | None:
    """The key's hash and whether it was already revoked; None when the instance has no such key."""
    return await conn.fetchrow(
        """WITH found AS (SELECT key_id, key_hash, revoked_at IS NOT NULL AS was_revoked FROM api_keys
                          WHERE instance_id = $1 AND key_id = $2 FOR UPDATE),
                done AS (UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now())
                         FROM found WHERE k.key_id = found.key_id)
           SELECT key_hash, was_revoked FROM found""", instance_id, key_id)


async def api_keys(conn: asyncpg.Connection, instance_id: str) -> list[dict]:
    rows = await conn.fetch("SELECT key_id, name, created_at, last_four, revoked_at, revoked_at IS NOT NULL AS revoked, "
                            "last_used_at FROM api_keys WHERE instance_id = $1 ORDER BY created_at, key_id", instance_id)
    return [dict(r) for r in rows]


async def note_key_use(conn: asyncpg.Connection, key_id: str, used_at: datetime) -> None:
    """Events may arrive late or twice: the latest use wins."""
    await conn.execute("UPDATE api_keys SET last_used_at = greatest(last_used_at, $2) WHERE key_id = $1",
                       key_id, used_at)
