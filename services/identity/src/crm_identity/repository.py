"""asyncpg queries for identity's tables."""

from __future__ import annotations

import asyncpg

from crm_contracts.identity import Tier

from .domain.accounts import Account

_ACCOUNT_COLUMNS = """account_id, name, tier, owner_user_id, owner_email, owner_first_name,
                      owner_last_name, enterprise_instance_id, opt_in_enabled"""


def _account(row: asyncpg.Record | None) -> Account | None:
    if row is None:
        return None
    return Account(**{**dict(row), "tier": Tier(row["tier"])})


async def get_account(conn: asyncpg.Connection, account_id: str, *, for_update: bool = False) -> Account | None:
    lock = " FOR UPDATE" if for_update else ""
    return _account(await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = $1{lock}", account_id))


async def insert_account(conn: asyncpg.Connection, account: Account, parsing_email: str) -> None:
    await conn.execute(
        f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        account.account_id, account.name, account.tier.value, account.owner_user_id, account.owner_email,
        account.owner_first_name, account.owner_last_name, account.enterprise_instance_id,
        account.opt_in_enabled,
    )
    await conn.execute(
        """INSERT INTO instances (instance_id, account_id, kind, owner_user_id, package, name, parsing_email)
           VALUES ($1, $2, 'enterprise', $3, $4, $5, $6)""",
        account.enterprise_instance_id, account.account_id, account.owner_user_id, account.tier.value,
        account.name, parsing_email,
    )
