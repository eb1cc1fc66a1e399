"""Accounts, their groups and members."""

from __future__ import annotations

import asyncpg

from crm_contracts.identity import Activation, MemberStatus, Tier, UserType
from crm_runtime.auth import AccountStanding, Caller, may_administer_account

from ..domain.accounts import Account
from ..domain.members import Member, administers_account


_ACCOUNT_COLUMNS = """account_id, name, tier, owner_user_id, owner_email, owner_first_name,
                      owner_last_name, enterprise_instance_id, opt_in_enabled"""


def _account(row: asyncpg.Record | None) -> Account | None:
    if row is None:
        return None
    return Account(**{**dict(row), "tier": Tier(row["tier"])})


async def get_account(conn: asyncpg.Connection, account_id: str, *, for_update: bool = False) -> Account | None:
    """The account; `for_update` serialises commands that check-then-insert members of it."""
    lock = " FOR UPDATE" if for_update else ""
    return _account(await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = $1{lock}", account_id))


async def insert_account(conn: asyncpg.Connection, account: Account) -> bool:
    """Open the account and its enterprise instance; False (and nothing written) if the account
    exists. One statement: it waits for a concurrent opening of the same account to finish."""
    return bool(await conn.fetchval(
        f"""WITH opened AS (
                INSERT INTO accounts ({_ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (account_id) DO NOTHING RETURNING account_id)
            INSERT INTO instances (instance_id, account_id, kind, owner_user_id, package, name, parsing_email,
                                   website_id)
            SELECT $8, account_id, 'enterprise', $4, $3, $2, $10, $11 FROM opened
            RETURNING true""",
        account.account_id, account.name, account.tier.value, account.owner_user_id, account.owner_email,
        account.owner_first_name, account.owner_last_name, account.enterprise_instance_id,
        account.opt_in_enabled, account.parsing_email, account.website_id,
    ))


async def account_standing(conn: asyncpg.Connection, account_id: str, user_id: str) -> AccountStanding | None:
    """The account's owner and the user's role and status in it, for deciding what they may read."""
    row = await conn.fetchrow(
        """SELECT a.owner_user_id, m.role, m.status FROM accounts a
           LEFT JOIN members m ON m.account_id = a.account_id AND m.user_id = $2
           WHERE a.account_id = $1""", account_id, user_id)
    return AccountStanding(row["owner_user_id"], administers_account(row["role"]), row["status"]) if row else None


async def administers(conn: asyncpg.Connection, account_id: str, user_id: str) -> bool:
    """Whether the user is the account's owner or one of its active admins (the runtime's rule)."""
    return may_administer_account(Caller(user_id), await account_standing(conn, account_id, user_id)).allowed


async def set_opt_in(conn: asyncpg.Connection, account_id: str, enabled: bool) -> None:
    await conn.execute("UPDATE accounts SET opt_in_enabled = $2 WHERE account_id = $1", account_id, enabled)


async def get_group(conn: asyncpg.Connection, account_id: str, group_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT group_id, name, parent_group_id FROM groups "
                               "WHERE account_id = $1 AND group_id = $2", account_id, group_id)


async def insert_group(conn: asyncpg.Connection, account_id: str, group_id: str, name: str,
                       parent_group_id: str | None) -> None:
    await conn.execute("INSERT INTO groups (account_id, group_id, name, parent_group_id) VALUES ($1, $2, $3, $4)",
                       account_id, group_id, name, parent_group_id)


_MEMBER_COLUMNS = "account_id, user_id, email, first_name, last_name, user_type, activation, status, group_id, role"


def _member(row: asyncpg.Record | None) -> Member | None:
    if row is None:
        return None
    return Member(**{**dict(row), "user_type": UserType(row["user_type"]),
                     "activation": Activation(row["activation"]) if row["activation"] else None,
                     "status": MemberStatus(row["status"])})


async def get_member(conn: asyncpg.Connection, account_id: str, user_id: str, *,
                     for_update: bool = False) -> Member | None:
    lock = " FOR UPDATE" if for_update else ""
    return _member(await conn.fetchrow(
        f"SELECT {_MEMBER_COLUMNS} FROM members WHERE account_id = $1 AND user_id = $2{lock}",
        account_id, user_id))


async def email_taken(conn: asyncpg.Connection, account_id: str, email: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT true FROM members WHERE account_id = $1 AND lower(email) = lower($2)", account_id, email))


async def insert_member(conn: asyncpg.Connection, m: Member) -> None:
    await conn.execute(
        f"INSERT INTO members ({_MEMBER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        m.account_id, m.user_id, m.email, m.first_name, m.last_name, m.user_type.value,
        m.activation.value if m.activation else None, m.status.value, m.group_id, m.role)


async def save_member(conn: asyncpg.Connection, m: Member) -> None:
    await conn.execute(
        """UPDATE members SET user_type = $3, activation = $4, status = $5, group_id = $6, updated_at = now()
           WHERE account_id = $1 AND user_id = $2""",
        m.account_id, m.user_id, m.user_type.value, m.activation.value if m.activation else None,
        m.status.value, m.group_id)


async def save_member_details(conn: asyncpg.Connection, m: Member) -> None:
    await conn.execute(
        """UPDATE members SET email = $3, first_name = $4, last_name = $5, role = $6, updated_at = now()
           WHERE account_id = $1 AND user_id = $2""",
        m.account_id, m.user_id, m.email, m.first_name, m.last_name, m.role)


async def set_phone(conn: asyncpg.Connection, account_id: str, user_id: str, phone: str) -> None:
    await conn.execute("UPDATE members SET phone = $3 WHERE account_id = $1 AND user_id = $2", account_id, user_id, phone)


async def personal(conn: asyncpg.Connection, user_id: str, account_id: str | None) -> dict:
    """What is the user's own on every instance: their e-mail and personal phone."""
    row = await conn.fetchrow(
        """SELECT email, phone FROM members WHERE user_id = $1 AND ($2::text IS NULL OR account_id = $2)
           UNION ALL SELECT owner_email, NULL FROM accounts WHERE owner_user_id = $1
           AND ($2::text IS NULL OR account_id = $2) LIMIT 1""", user_id, account_id)
    return {"email": row["email"], "phone": row["phone"]} if row else {"email": None, "phone": None}


async def list_members(conn: asyncpg.Connection, account_id: str) -> list[dict]:
    rows = await conn.fetch(f"SELECT {_MEMBER_COLUMNS} FROM members WHERE account_id = $1 ORDER BY created_at, user_id",
                            account_id)
    return [dict(r) for r in rows]


async def public_roster(conn: asyncpg.Connection, account_id: str, *, after: str, limit: int) -> list[dict]:
    """The people an account shows on its website: display-only members and active platform users,
    with name, role and office only (no e-mail, no status), a page in user id order."""
    rows = await conn.fetch(
        """SELECT m.user_id, m.first_name, m.last_name, m.role, g.name AS office,
                  m.user_type = 'display_only' AS display_only
           FROM members m LEFT JOIN groups g ON g.account_id = m.account_id AND g.group_id = m.group_id
           WHERE m.account_id = $1 AND m.user_id > $2 AND (m.user_type = 'display_only' OR m.status = 'active')
           ORDER BY m.user_id LIMIT $3""", account_id, after, limit)
    return [dict(r) for r in rows]


async def best_status(conn: asyncpg.Connection, user_id: str) -> str | None:
    """The user's status where it is best: `active` if they own an account or are active in one;
    else their status in some account; None when no account knows them."""
    return await conn.fetchval(
        """SELECT status FROM (SELECT 'active' AS status, 0 AS rank FROM accounts WHERE owner_user_id = $1
                               UNION ALL
                               SELECT status, CASE WHEN status = 'active' THEN 0 ELSE 1 END FROM members
                               WHERE user_id = $1) s ORDER BY rank LIMIT 1""", user_id)
