"""Seats' handlers through the runtime on a scratch database, with "today" set by the test."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest

from crm_contracts import command, event_caused_by, identity
from crm_runtime import db
from crm_runtime.batches import BatchProcessor
from crm_seats.handlers import handlers
from crm_seats.settings import SeatsSettings
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


class Account:
    """One new account whose messages seats' handlers take through the runtime, on the test's clock."""

    def __init__(self, pool, clock) -> None:
        self.id = "acc_" + uuid.uuid4().hex[:10]
        self.processor = BatchProcessor("seats", handlers, None, group="seats-test", settings=SeatsSettings(),
                                        pool=pool, clock=clock)

    async def __call__(self, data, *, rejected: str | None = None) -> None:
        """A command to seats: handled, or refused with `rejected`."""
        outcome = await self.processor.handle_message(command(data, source="test", accountid=self.id))
        assert (outcome.name, outcome.reason) == (("rejected", rejected) if rejected else ("handled", None)), outcome

    async def fact(self, data) -> None:
        """An event as identity publishes it."""
        cause = command(identity.AcceptInvitation(token="t"), source="test", accountid=self.id)
        outcome = await self.processor.handle_message(event_caused_by(cause, data, source="crm/identity"))
        assert outcome.name == "handled", outcome


@pytest.fixture
def account(pool, clock) -> Account:
    return Account(pool, clock)
