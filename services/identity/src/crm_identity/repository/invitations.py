"""Invitations: opt-in and instance invitations, found by their token's hash."""

from __future__ import annotations

import asyncpg

from crm_contracts.identity import InvitationKind

from ..domain.invitations import Invitation, State


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
