"""Bridge numbers come from a finite pool, one per user, the same one whichever order purchases
are handled in (so a rebuilt database gives the same numbers); when none is left the pool says so
(the purchase is then refused with `number_pool_empty`)."""

from __future__ import annotations

import pytest

from crm_runtime import db
from crm_seats import repository
from crm_testing.databases import scratch_database

pytestmark = pytest.mark.stack

POOL = {"prefix": "+1555019", "digits": 4}


async def _given(stack, order: list[tuple[str, str]], count: int) -> dict[tuple[str, str], str | None]:
    async with scratch_database(stack, "crm_seats_numbers", [("seats", db.migrations_of("crm_seats"))]) as pool, \
            pool.acquire() as conn:
        return {who: await repository.calls.take_bridge_number(conn, *who, **POOL, count=count) for who in order}


async def test_a_user_gets_the_same_number_whatever_else_was_given_first(stack):
    people = [("a1", "ann"), ("a2", "ann"), ("a1", "bob"), ("a3", "cy")]
    forwards = await _given(stack, people, 10_000)
    backwards = await _given(stack, people[::-1], 10_000)
    assert forwards == backwards
    assert len(set(forwards.values())) == 4 and all(n and n.startswith("+1555019") for n in forwards.values())


async def test_the_pool_gives_each_user_one_number_until_it_is_empty(stack):
    async with scratch_database(stack, "crm_seats_numbers", [("seats", db.migrations_of("crm_seats"))]) as pool, \
            pool.acquire() as conn:
        take = lambda acc, user: repository.calls.take_bridge_number(conn, acc, user, **POOL, count=2)  # noqa: E731
        first, second = await take("a1", "ann"), await take("a2", "ann")  # another account's ann is another user
        assert {first, second} == {"+15550190000", "+15550190001"}
        assert await take("a1", "ann") is None  # she has hers
        assert await repository.calls.bridge_number(conn, "a1", "ann") == first
        assert await take("a1", "bob") is None  # none left
