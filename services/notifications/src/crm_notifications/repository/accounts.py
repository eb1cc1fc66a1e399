"""The read models notifications keeps from identity's and seats' events: accounts, members,
instances, upgrades."""

from __future__ import annotations

import json

import asyncpg

from crm_contracts.identity import AccountCreated


async def record_account(conn: asyncpg.Connection, event: AccountCreated) -> None:
    """The account, its enterprise instance and its owner as that instance's member, in one statement."""
    await conn.execute(
        """WITH account AS (
               INSERT INTO accounts (account_id, name, owner_user_id, owner_email, owner_first_name,
                                     enterprise_instance_id) VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (account_id) DO UPDATE SET name = EXCLUDED.name, owner_user_id = EXCLUDED.owner_user_id,
                   owner_email = EXCLUDED.owner_email, owner_first_name = EXCLUDED.owner_first_name,
                   enterprise_instance_id = EXCLUDED.enterprise_instance_id),
           instance AS (
               INSERT INTO instances (instance_id, account_id, name) VALUES ($6, $1, $7)
               ON CONFLICT (instance_id) DO UPDATE SET name = EXCLUDED.name)
           INSERT INTO instance_members (instance_id, user_id) VALUES ($6, $3) ON CONFLICT DO NOTHING""",
        event.account_id, event.name, event.owner_user_id, event.owner_email, event.owner_first_name,
        event.enterprise_instance_id, event.name or event.account_id)


async def record_member(conn: asyncpg.Connection, account_id: str, user_id: str, email: str,
                        first_name: str | None, administers: bool, status: str) -> None:
    await conn.execute(
        """INSERT INTO account_members (account_id, user_id, email, first_name, administers, status)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (account_id, user_id) DO UPDATE SET email = EXCLUDED.email,
               first_name = EXCLUDED.first_name, administers = EXCLUDED.administers, status = EXCLUDED.status""",
        account_id, user_id, email, first_name, administers, status)


async def set_member_details(conn: asyncpg.Connection, account_id: str, user_id: str, email: str,
                             first_name: str | None, administers: bool) -> None:
    await conn.execute(
        """UPDATE account_members SET email = $3, first_name = $4, administers = $5
           WHERE account_id = $1 AND user_id = $2""", account_id, user_id, email, first_name, administers)


async def set_member_status(conn: asyncpg.Connection, account_id: str, user_id: str, status: str) -> None:
    await conn.execute("UPDATE account_members SET status = $3 WHERE account_id = $1 AND user_id = $2",
                       account_id, user_id, status)


async def account_admins(conn: asyncpg.Connection, account_id: str) -> list[asyncpg.Record]:
    """The account's active members who administer it (identity's word, kept from its events)."""
    return await conn.fetch(
        """SELECT user_id, email, first_name FROM account_members
           WHERE account_id = $1 AND status = 'active' AND administers ORDER BY user_id""", account_id)


async def get_account(conn: asyncpg.Connection, account_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM accounts WHERE account_id = $1", account_id)


async def upsert_instance(conn: asyncpg.Connection, instance_id: str, account_id: str, name: str) -> None:
    await conn.execute(
        """INSERT INTO instances (instance_id, account_id, name) VALUES ($1, $2, $3)
           ON CONFLICT (instance_id) DO UPDATE SET name = EXCLUDED.name""",
        instance_id, account_id, name)


async def instance_name(conn: asyncpg.Connection, instance_id: str) -> str:
    return await conn.fetchval("SELECT name FROM instances WHERE instance_id = $1", instance_id) or instance_id


async def instance_member_ids(conn: asyncpg.Connection, instance_id: str) -> list[str]:
    return [r[0] for r in await conn.fetch("SELECT user_id FROM instance_members WHERE instance_id = $1 ORDER BY 1",
                                           instance_id)]


async def add_instance_member(conn: asyncpg.Connection, instance_id: str, user_id: str) -> None:
    await conn.execute("INSERT INTO instance_members (instance_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       instance_id, user_id)


async def remove_instance_member(conn: asyncpg.Connection, instance_id: str, user_id: str) -> None:
    await conn.execute("DELETE FROM instance_members WHERE instance_id = $1 AND user_id = $2", instance_id, user_id)


async def record_upgrade(conn: asyncpg.Connection, causation_id: str, data: dict) -> None:
    await conn.execute("INSERT INTO upgrades (causation_id, data) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       causation_id, json.dumps(data))


async def upgrade_caused_by(conn: asyncpg.Connection, causation_id: str) -> dict | None:
    """The seats.account.upgraded that shares a cause with a charge: the upgrade it pays for."""
    data = await conn.fetchval("SELECT data FROM upgrades WHERE causation_id = $1", causation_id)
    return json.loads(data) if data else None
