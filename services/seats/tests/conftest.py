"""Seats' handlers through the runtime on a scratch database, with "today" set by the test."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from crm_runtime import db
from crm_testing.databases import scratch_database


class Clock:
    """A clock the test sets: every handler's "today" (noon UTC of `day`)."""

    def __init__(self, day: date) -> None:
        self.day = day

    def __call__(self, _message) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, 12, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(date.today())


@pytest.fixture
async def pool(stack):
    async with scratch_database(stack, "crm_seats_handlers", [("seats", db.migrations_of("crm_seats"))]) as pool:
        yield pool


@pytest.fixture
def published(pool):
    """The data of each event of `type_` the handlers wrote to the outbox for the account, in order."""
    async def read(account_id: str, type_: str) -> list[dict]:
        rows = await pool.fetch("SELECT payload FROM outbox WHERE key = $1 AND type = $2 ORDER BY id",
                                account_id, type_)
        return [json.loads(r["payload"])["data"] for r in rows]
    return read
