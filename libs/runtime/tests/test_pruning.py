"""What keeps the runtime's tables from growing without end, and what keeps pruning cheap: each
pruning statement reads an index on a table of 100,000 rows, never the whole table."""

from __future__ import annotations

import pytest

from crm_testing.databases import scratch_database, seq_scans
from crm_runtime import inbox, relay

pytestmark = pytest.mark.stack
ROWS = 100_000


@pytest.fixture(scope="module")
async def pool(stack):
    async with scratch_database(stack, "crm_runtime_prune") as pool:
        # A steady state: pruning keeps up, so about 1% of each table is past its keep time —
        # 100,000 claims over the last 29.29 days (29 kept), 100,000 outbox rows published over
        # the last 606 seconds (600 kept).
        await pool.execute(
            """INSERT INTO inbox (consumer, event_id, type, received_at)
               SELECT 'svc', 'e' || n, 't', now() - make_interval(secs => n::float8 * 86400 * 29.29 / $1)
               FROM generate_series(1, $1) AS n""", ROWS)
        await pool.execute(
            """INSERT INTO outbox (event_id, topic, key, type, payload, published_at)
               SELECT 'o' || n, 't', 'k', 't', '\\x00', now() - make_interval(secs => n::float8 * 606 / $1)
               FROM generate_series(1, $1) AS n""", ROWS)
        await pool.execute("ANALYZE inbox; ANALYZE outbox")
        yield pool


@pytest.mark.parametrize(("sql", "args"), [(inbox.PRUNE, (29 * 86400.0, 10_000)), (relay.PRUNE, (600.0, 5000))])
async def test_pruning_reads_an_index_not_the_table(pool, sql, args):
    assert await seq_scans(pool, sql, *args) == set()


async def test_claims_older_than_the_keep_time_go_in_batches_and_newer_stay(pool):
    keep = 29 * 86400.0
    old = await pool.fetchval("SELECT count(*) FROM inbox WHERE received_at < now() - make_interval(secs => $1)", keep)
    assert 900 < old < 1100  # the oldest 0.29 of 29.29 days
    assert await inbox.prune(pool, keep, limit=600) == 600
    assert await inbox.prune(pool, keep, limit=600) == old - 600
    assert await inbox.prune(pool, keep, limit=600) == 0
    assert await pool.fetchval("SELECT count(*) FROM inbox") == ROWS - old
    assert await pool.fetchval("SELECT min(received_at) > now() - make_interval(secs => $1) FROM inbox", keep + 60)
