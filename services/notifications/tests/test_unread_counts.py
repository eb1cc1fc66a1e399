"""Unread counts kept as notifications are filed and read: equal to a recount from the notifications
themselves, and read from an index on tables of 100,000 rows."""

from __future__ import annotations

import uuid

import pytest

from crm_contracts import command, identity
from crm_testing.databases import scratch_database, seq_scans
from crm_notifications import repository
from crm_runtime import db

pytestmark = pytest.mark.stack
ROWS = 100_000


@pytest.fixture(scope="module")
async def pool(stack):
    async with scratch_database(stack, "crm_notifications_unread",
                                [("notifications", db.migrations_of("crm_notifications"))]) as pool:
        yield pool


async def recount(pool, user_id: str) -> dict[str, int]:
    rows = await pool.fetch("""SELECT instance_id, count(*) FILTER (WHERE read_at IS NULL) AS n FROM notifications
                               WHERE user_id = $1 GROUP BY 1""", user_id)
    return {r["instance_id"]: r["n"] for r in rows}


async def test_counts_follow_filing_and_reading_and_equal_a_recount(pool):
    me, other = "u_" + uuid.uuid4().hex[:8], "u_" + uuid.uuid4().hex[:8]
    cause = command(identity.SetOptIn(enabled=True), source="test", accountid="acc")
    ids = {}
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO instance_members (instance_id, user_id) VALUES ('quiet', $1)", me)
        seen = []
        for n, (user, instance) in enumerate([(me, "home"), (me, "home"), (me, "team"), (me, "home"), (other, "home")]):
            filed = await repository.center.file_notification(conn, notification_id=f"ntf_{n}", account_id="acc",
                                                       user_id=user, instance_id=instance, kind="k", title="t",
                                                       body="b", cause=cause)
            ids[n] = filed.notification_id
            # What filing answers (read in its own statement) is what a read after it finds.
            assert filed.unread == await repository.center.unread_counts(conn, user)
            seen.append(filed.unread)
        assert seen[2] == {"home": 2, "quiet": 0, "team": 1} and seen[4] == {"home": 1}
        assert await repository.center.unread_counts(conn, me) == {"home": 3, "quiet": 0, "team": 1}
        # Read two of home's, one twice over, one of the team's, and someone else's (not mine: no effect).
        assert await repository.center.mark_read(conn, me, [ids[0], ids[1], ids[2], ids[4]]) == 3
        assert await repository.center.mark_read(conn, me, [ids[0]]) == 0
        assert await repository.center.unread_counts(conn, me) == {"home": 1, "quiet": 0, "team": 0}
        assert await repository.center.unread_counts(conn, other) == {"home": 1}
    for user in (me, other):
        kept = await repository.center.unread_counts(pool, user)
        assert {i: n for i, n in kept.items() if i != "quiet"} == await recount(pool, user)


async def test_counting_reads_an_index_not_the_tables(pool):
    await pool.execute(
        """INSERT INTO unread_counts (user_id, instance_id, unread)
           SELECT 'u' || n, 'i' || (n % 50), 1 FROM generate_series(1, $1) AS n;
           INSERT INTO instance_members (instance_id, user_id)
           SELECT 'i' || (n % 50), 'u' || n FROM generate_series(1, $1) AS n ON CONFLICT DO NOTHING;
           ANALYZE unread_counts; ANALYZE instance_members""".replace("$1", str(ROWS)))
    assert await seq_scans(pool, repository.center.UNREAD_COUNTS, "u42") == set()
