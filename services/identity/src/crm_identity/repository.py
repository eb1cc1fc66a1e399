"""asyncpg queries for identity's tables."""

from __future__ import annotations

import asyncpg

from crm_contracts.identity import Activation, InvitationKind, MemberStatus, Tier, UserType
from crm_runtime.auth import AccountStanding

from .domain.accounts import Account
from .domain.instances import Instance, addresses
from .domain.invitations import Invitation, State
from .domain.members import Member

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


async def insert_account(conn: asyncpg.Connection, account: Account, parsing_email: str) -> bool:
    """Open the account and its enterprise instance; False (and nothing written) if the account
    exists. One statement: it waits for a concurrent opening of the same account to finish."""
    return bool(await conn.fetchval(
        f"""WITH opened AS (
                INSERT INTO accounts ({_ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (account_id) DO NOTHING RETURNING account_id)
            INSERT INTO instances (instance_id, account_id, kind, owner_user_id, package, name, parsing_email)
            SELECT $8, account_id, 'enterprise', $4, $3, $2, $10 FROM opened
            RETURNING true""",
        account.account_id, account.name, account.tier.value, account.owner_user_id, account.owner_email,
        account.owner_first_name, account.owner_last_name, account.enterprise_instance_id,
        account.opt_in_enabled, parsing_email,
    ))


async def account_standing(conn: asyncpg.Connection, account_id: str, user_id: str) -> AccountStanding | None:
    """The account's owner and the user's role and status in it, for deciding what they may read."""
    row = await conn.fetchrow(
        """SELECT a.owner_user_id, m.role, m.status FROM accounts a
           LEFT JOIN members m ON m.account_id = a.account_id AND m.user_id = $2
           WHERE a.account_id = $1""", account_id, user_id)
    return AccountStanding(row["owner_user_id"], row["role"], row["status"]) if row else None


async def set_opt_in(conn: asyncpg.Connection, account_id: str, enabled: bool) -> None:
    await conn.execute("UPDATE accounts SET opt_in_enabled = $2 WHERE account_id = $1", account_id, enabled)


# --- groups -------------------------------------------------------------------------------


async def get_group(conn: asyncpg.Connection, account_id: str, group_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT group_id, name, parent_group_id FROM groups "
                               "WHERE account_id = $1 AND group_id = $2", account_id, group_id)


async def insert_group(conn: asyncpg.Connection, account_id: str, group_id: str, name: str,
                       parent_group_id: str | None) -> None:
    await conn.execute("INSERT INTO groups (account_id, group_id, name, parent_group_id) VALUES ($1, $2, $3, $4)",
                       account_id, group_id, name, parent_group_id)


# --- members ------------------------------------------------------------------------------

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


# --- invitations --------------------------------------------------------------------------

_INVITATION_COLUMNS = "invitation_id, account_id, user_id, kind, token_hash, state, expires_at, instance_id, role"


def _invitation(row: asyncpg.Record | None) -> Invitation | None:
    if row is None:
        return None
    return Invitation(**{**dict(row), "kind": InvitationKind(row["kind"]), "state": State(row["state"])})


async def insert_invitation(conn: asyncpg.Connection, inv: Invitation) -> None:
    await conn.execute(
        f"INSERT INTO invitations ({_INVITATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        inv.invitation_id, inv.account_id, inv.user_id, inv.kind.value, inv.token_hash, inv.state.value,
        inv.expires_at, inv.instance_id, inv.role)


async def invitation_by_hash(conn: asyncpg.Connection, token_hash: str, *,
                             for_update: bool = False) -> Invitation | None:
    lock = " FOR UPDATE" if for_update else ""
    return _invitation(await conn.fetchrow(
        f"SELECT {_INVITATION_COLUMNS} FROM invitations WHERE token_hash = $1{lock}", token_hash))


async def close_pending_invitations(conn: asyncpg.Connection, account_id: str, user_id: str,
                                    state: State, *, instance_id: str | None = None,
                                    everywhere: bool = False) -> None:
    """Close the member's pending links to the account (`instance_id` None) or to one instance;
    `everywhere` closes them all (deactivation)."""
    await conn.execute(
        """UPDATE invitations SET state = $3
           WHERE account_id = $1 AND user_id = $2 AND state = 'pending'
             AND ($5 OR instance_id IS NOT DISTINCT FROM $4)""",
        account_id, user_id, state.value, instance_id, everywhere)


async def mark_accepted(conn: asyncpg.Connection, inv: Invitation) -> None:
    await conn.execute("UPDATE invitations SET state = 'accepted', accepted_at = now() WHERE invitation_id = $1",
                       inv.invitation_id)


# By `invitations_instance_pending` (tests EXPLAIN it on 100,000 rows).
PENDING_INSTANCE_INVITATION = f"""SELECT {_INVITATION_COLUMNS} FROM invitations
                                  WHERE instance_id = $1 AND user_id = $2 AND state = 'pending' FOR UPDATE"""


async def pending_instance_invitation(conn: asyncpg.Connection, instance_id: str, user_id: str) -> Invitation | None:
    return _invitation(await conn.fetchrow(PENDING_INSTANCE_INVITATION, instance_id, user_id))


# --- instances ------------------------------------------------------------------------------

_INSTANCE_COLUMNS = "instance_id, account_id, kind, owner_user_id, package, name, parsing_email, website_id"


def _instance(row: asyncpg.Record | None) -> Instance | None:
    return Instance(**dict(row)) if row is not None else None


async def get_instance(conn: asyncpg.Connection, instance_id: str, *, for_update: bool = False) -> Instance | None:
    lock = " FOR UPDATE" if for_update else ""
    return _instance(await conn.fetchrow(
        f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE instance_id = $1{lock}", instance_id))


async def owned_instance(conn: asyncpg.Connection, account_id: str, user_id: str) -> Instance | None:
    return _instance(await conn.fetchrow(
        f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE account_id = $1 AND owner_user_id = $2 "
        "AND kind = 'private'", account_id, user_id))


async def insert_instance(conn: asyncpg.Connection, i: Instance) -> bool:
    """False (nothing written) when the owner already has a private instance, even one a
    concurrent transaction is still creating: the unique index makes that one wait for it."""
    return bool(await conn.fetchval(
        f"""INSERT INTO instances ({_INSTANCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (account_id, owner_user_id) WHERE kind = 'private' DO NOTHING RETURNING true""",
        i.instance_id, i.account_id, i.kind, i.owner_user_id, i.package, i.name, i.parsing_email, i.website_id))


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
           i.website_id, m.role, m.sending_email, m.capture_email, m.joined_at, (i.owner_user_id = m.user_id) AS owner
    FROM instance_members m JOIN instances i USING (instance_id)
    WHERE m.user_id = $1 AND ($2::text IS NULL OR m.account_id = $2)
    UNION ALL
    SELECT i.instance_id, i.account_id, i.kind, i.name, i.package, i.owner_user_id, i.parsing_email,
           i.website_id, coalesce(mb.role, 'owner'), NULL, NULL, coalesce(mb.created_at, a.created_at),
           (i.owner_user_id = $1)
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


async def instance_members(conn: asyncpg.Connection, instance_id: str) -> list[dict]:
    rows = await conn.fetch("SELECT user_id, role, joined_at FROM instance_members WHERE instance_id = $1 "
                            "ORDER BY joined_at, user_id", instance_id)
    return [dict(r) for r in rows]


# --- API keys -------------------------------------------------------------------------------


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
    rows = await conn.fetch("SELECT key_id, name, created_at, last_four, revoked_at, revoked_at IS NOT NULL AS revoked "
                            "FROM api_keys WHERE instance_id = $1 ORDER BY created_at, key_id", instance_id)
    return [dict(r) for r in rows]
