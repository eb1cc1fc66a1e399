"""Bridge numbers come from a finite pool, the lowest free number first, one per user; when none
is left the pool says so (the purchase is then refused with `number_pool_empty`)."""

from __future__ import annotations

import pytest

from crm_runtime import db
from crm_seats import repository
from crm_testing.databases import scratch_database

pytestmark = pytest.mark.stack


async def test_the_pool_gives_the_lowest_free_number_once_per_user_until_it_is_empty(stack):
    async with scratch_database(stack, "crm_seats_numbers", [("seats", db.migrations_of("crm_seats"))]) as pool:
        async with pool.acquire() as conn:
            take = lambda acc, user: repository.take_bridge_number(  # noqa: E731
                conn, acc, user, prefix="+1555019", digits=4, count=2)
            assert await take("a1", "ann") == "+15550190000"
            assert await take("a2", "ann") == "+15550190001"  # another account's ann is another user
            assert await take("a1", "ann") is None  # she has hers
            assert await repository.bridge_number(conn, "a1", "ann") == "+15550190000"
            assert await take("a1", "bob") is None  # none left
