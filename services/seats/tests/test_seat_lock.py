"""The subscription row lock, where it matters: two transactions reserving for one account at once.

Records of one account are handled in order on one partition, so an end-to-end race never has two
reservations of one account in flight in one replica. They can meet when a partition moves to a
new owner while the old one is still finishing, or when a service handles a command from its HTTP
side. Here two connections run the seats handlers at once for each account, with a pause after
reading the subscription so that both read before either writes. With the lock, the second waits
and sees the first's seat; the control shows what the same race does without it."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from crm_contracts import command, event_caused_by, identity, seats
from crm_testing.databases import scratch_database
from crm_runtime import db
from crm_runtime.batches import BatchProcessor
from crm_runtime.settings import ServiceSettings
from crm_seats import repository
from crm_seats.domain.ledger import Subscription
from crm_seats.handlers import handlers
from crm_devstack.dates import period_args

pytestmark = pytest.mark.stack
ACCOUNTS = 6


@pytest.fixture
async def pool(stack):
    async with scratch_database(stack, "crm_seats_lock", [("seats", db.migrations_of("crm_seats"))],
                                max_size=2 * ACCOUNTS + 2) as pool:
        yield pool


def seats_processor(pool) -> BatchProcessor:
    return BatchProcessor("seats", handlers, None, group="lock-test", settings=ServiceSettings(), pool=pool)


async def race(pool, monkeypatch, read_subscription) -> list[dict]:
    """For each account: one free seat, two opt-in acceptances handled at once."""
    processor = seats_processor(pool)
    accounts = ["acc_" + uuid.uuid4().hex[:10] for _ in range(ACCOUNTS)]
    for acc in accounts:
        await processor.handle_message(command(seats.SetSubscription(
            seats_total=1, seat_price_cents=3000, currency="USD", **period_args()), source="test", accountid=acc))
    monkeypatch.setattr(repository.ledger, "lock_subscription", read_subscription)

    def accepted(acc: str, user: str):
        cause = command(identity.AcceptInvitation(token="t"), source="test", accountid=acc)
        return event_caused_by(cause, identity.InvitationAccepted(user_id=user, invitation_id=f"inv_{user}",
                                                                  kind="opt_in"), source="crm/identity")

    outcomes = await asyncio.gather(*(processor.handle_message(accepted(acc, u))
                                      for acc in accounts for u in ("u1", "u2")), return_exceptions=True)
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    rows = await pool.fetch(
        """SELECT s.account_id, s.seats_total, s.seats_used,
                  (SELECT count(*) FROM seat_holders h WHERE h.account_id = s.account_id) AS holders,
                  (SELECT count(*) FROM charges c WHERE c.account_id = s.account_id) AS charges
           FROM subscriptions s WHERE s.account_id = ANY($1)""", accounts)
    return [dict(r) for r in rows]


def slowed(read):
    async def read_then_pause(conn, account_id):
        sub = await read(conn, account_id)
        await asyncio.sleep(0.2)  # both transactions have read before either writes
        return sub
    return read_then_pause


async def test_two_reservations_at_once_for_one_account_take_turns_on_the_lock(pool, monkeypatch):
    for r in await race(pool, monkeypatch, slowed(repository.ledger.lock_subscription)):
        # One took the free seat, the other bought exactly the missing one.
        assert (r["seats_total"], r["seats_used"], r["holders"], r["charges"]) == (2, 2, 2, 1), r


async def test_without_the_lock_the_same_race_double_books(pool, monkeypatch):
    """The control: a plain read in place of the locking one loses an update."""
    async def plain_read(conn, account_id):
        row = await conn.fetchrow("SELECT account_id, seats_total, seats_used, seat_price_cents, currency, "
                                  "period_start, period_end FROM subscriptions WHERE account_id = $1", account_id)
        return Subscription(**dict(row))

    rows = await race(pool, monkeypatch, slowed(plain_read))
    broken = [r for r in rows if r["holders"] != r["seats_used"] or (r["seats_total"], r["charges"]) != (2, 1)]
    assert broken, rows
