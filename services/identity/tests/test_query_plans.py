"""Identity's lookups by user and by instance read indexes, not whole tables, at 100,000 rows:
20,000 accounts with an Enterprise instance and a group, five members each, a private instance per account
with its members, and an invitation per member."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_testing.databases import scratch_database, seq_scans
from crm_identity import repository
from crm_runtime import db

pytestmark = pytest.mark.stack
ACCOUNTS = 20_000


@pytest.fixture(scope="module")
async def pool(stack):
    async with scratch_database(stack, "crm_identity_plans", [("identity", db.migrations_of("crm_identity"))]) as pool:
        await pool.execute(f"""
            INSERT INTO accounts (account_id, name, tier, owner_user_id, owner_email, owner_first_name,
                                  owner_last_name, enterprise_instance_id)
            SELECT 'a' || n, 'A', 'enterprise', 'o' || n, 'o@x', 'O', 'P', 'e' || n FROM generate_series(1, {ACCOUNTS}) n;
            INSERT INTO instances (instance_id, account_id, kind, owner_user_id, package, name, parsing_email)
            SELECT 'e' || n, 'a' || n, 'enterprise', 'o' || n, 'enterprise', 'E', 'e' || n || '@p'
            FROM generate_series(1, {ACCOUNTS}) n
            UNION ALL
            SELECT 'p' || n, 'a' || n, 'private', 'u' || n || '_0', 'crm_idx_team', 'T', 'p' || n || '@p'
            FROM generate_series(1, {ACCOUNTS}) n;
            INSERT INTO groups (account_id, group_id, name, parent_group_id)
            SELECT 'a' || n, 'g', 'G', NULL FROM generate_series(1, {ACCOUNTS}) n;
            INSERT INTO members (account_id, user_id, email, first_name, last_name, user_type, activation, status, role,
                                 group_id)
            SELECT 'a' || n, 'u' || n || '_' || k, 'u' || n || '_' || k || '@x', 'F', 'L', 'platform', 'immediate',
                   'active', 'agent', 'g'
            FROM generate_series(1, {ACCOUNTS}) n, generate_series(0, 4) k;
            INSERT INTO instance_members (instance_id, account_id, user_id, role, sending_email, capture_email)
            SELECT 'p' || n, 'a' || n, 'u' || n || '_' || k, 'agent', 's@x', 'c' || n || '_' || k || '@x'
            FROM generate_series(1, {ACCOUNTS}) n, generate_series(0, 4) k;
            INSERT INTO invitations (invitation_id, account_id, user_id, kind, token_hash, state, expires_at,
                                     instance_id, role)
            SELECT 'i' || n || '_' || k, 'a' || n, 'u' || n || '_' || k, 'instance', md5(n || '_' || k),
                   CASE WHEN k = 0 THEN 'pending' ELSE 'accepted' END, now(), 'p' || n, 'agent'
            FROM generate_series(1, {ACCOUNTS}) n, generate_series(0, 4) k;
            ANALYZE""")
        yield pool


@pytest.mark.parametrize("account_id", [None, "a42"])
async def test_a_users_instances_are_found_by_index(pool, account_id):
    assert await seq_scans(pool, repository.instances.INSTANCES_OF, "u42_1", account_id) == set()


async def test_a_pending_instance_invitation_is_found_by_index(pool):
    assert await seq_scans(pool, repository.invitations.PENDING_INSTANCE_INVITATION, "p42", "u42_0") == set()


async def test_the_instances_found_are_the_users(pool):
    async with pool.acquire() as conn:
        found = await repository.instances.instances_of(conn, "u42_1", None)
        owner = await repository.instances.instances_of(conn, "o42", None)
    assert sorted((r["instance_id"], r["role"]) for r in found) == [("e42", "agent"), ("p42", "agent")]
    assert [(r["instance_id"], r["owner"]) for r in owner] == [("e42", True)]


async def test_whom_an_instance_may_invite_is_found_by_index(pool):
    args = ("p42", "a42", ["active"], datetime.now(UTC), "", 100)
    assert await seq_scans(pool, repository.instances.CANDIDATES, *args) == set()
    found = await pool.fetch(repository.instances.CANDIDATES, *args)
    # Every member of a42 is in p42 already; only the account's owner is left to invite.
    assert [r["user_id"] for r in found] == ["o42"]
