"""The account's owner sits in one of the seats the account pays for ("Platform Users are active
agents on your account … sitting in one of the seats you are paying for"), from the moment it has a
subscription, whichever of the two reaches seats first."""

from __future__ import annotations

from datetime import date

import pytest

from crm_contracts import identity, seats
from crm_seats import repository

pytestmark = pytest.mark.stack

YEAR = date.today().year + 1


async def ledger(pool, account_id: str) -> tuple[dict, list[dict], list[dict]]:
    """The seat summary, holders and history, as `GET /v1/seats` reads them."""
    async with pool.acquire() as conn:
        sub = await repository.ledger.get_subscription(conn, account_id)
        holders = await repository.ledger.holders(conn, account_id)
        return repository.ledger.summary(sub, 0, holders), holders, await repository.ledger.history(conn, account_id)


def created(acc: str) -> identity.AccountCreated:
    return identity.AccountCreated(account_id=acc, tier="enterprise", enterprise_instance_id=f"ins_{acc}",
                                   owner_user_id="olive")


def plan(seats_total: int, **more) -> seats.SetSubscription:
    return seats.SetSubscription(seats_total=seats_total, seat_price_cents=3100, currency="USD",
                                 period_start=date(YEAR, 1, 1), period_end=date(YEAR, 2, 1), **more)


async def test_the_owner_takes_one_of_the_seats_paid_for_and_members_the_rest(pool, account, clock, published):
    clock.day = date(YEAR, 1, 5)
    await account.fact(created(account.id))
    assert await published(account.id, "seats.seat.reserved") == []  # no subscription, no seat yet
    await account(plan(2))
    await account.fact(identity.InvitationAccepted(user_id="ann", invitation_id="inv_ann", kind="opt_in"))

    assert [(e["user_id"], e["seats_used"], e["seats_total"], e["auto_upgraded"], e["account_owner"])
            for e in await published(account.id, "seats.seat.reserved")] == [
        ("olive", 1, 2, False, True), ("ann", 2, 2, False, False)]
    assert await published(account.id, "seats.account.upgraded") == []
    summary, holders, history = await ledger(pool, account.id)
    assert (summary["owner"], summary["seats_used"], summary["seats_available"]) == (
        {"user_id": "olive", "holds_seat": True}, 2, 0)
    assert [(h["user_id"], h["account_owner"]) for h in holders] == [("olive", True), ("ann", False)]
    assert [(h["change"], h["user_id"], h["account_owner"]) for h in history if h["change"] == "reserved"] == [
        ("reserved", "olive", True), ("reserved", "ann", False)]

    # A plan set again is not a second seat for the owner, nor one below the seats held.
    await account(plan(3))
    assert len(await published(account.id, "seats.seat.reserved")) == 2
    await account(plan(1), rejected="seats_below_used")


async def test_with_no_seat_free_the_owners_seat_is_bought_even_with_automatic_upgrades_off(
        pool, account, clock, published):
    """Set before the account's creation reaches seats, with no seats and upgrades off: the owner's
    seat is bought at creation, pro-rated — Jan 1 .. Feb 1 is 31 days, on Jan 22 ten are left:
    3100 × 10 / 31 = 1000."""
    clock.day = date(YEAR, 1, 22)
    await account(plan(0, auto_upgrade=seats.AutoUpgrade(mode="off")))
    assert await published(account.id, "seats.seat.reserved") == []  # whose seat: not known yet
    await account.fact(created(account.id))

    [upgraded] = await published(account.id, "seats.account.upgraded")
    assert (upgraded["from_total"], upgraded["to_total"], upgraded["reason"], upgraded["user_id"]) == (
        0, 1, "account_owner", "olive")
    [charge] = await published(account.id, "seats.charge.created")
    assert (charge["amount_cents"], charge["proration"]) == (1000, {"days_remaining": 10, "days_in_period": 31})
    [reserved] = await published(account.id, "seats.seat.reserved")
    assert (reserved["user_id"], reserved["seats_used"], reserved["seats_total"], reserved["auto_upgraded"],
            reserved["account_owner"]) == ("olive", 1, 1, True, True)

    # A member accepting now is refused as the account chose: its upgrades are off.
    await account.fact(identity.InvitationAccepted(user_id="ann", invitation_id="inv_ann", kind="opt_in"))
    [denied] = await published(account.id, "seats.seat.denied")
    assert (denied["user_id"], denied["reason"]) == ("ann", "auto_upgrade_off")
    summary, _, history = await ledger(pool, account.id)
    assert (summary["owner"], summary["seats_total"], summary["seats_used"]) == (
        {"user_id": "olive", "holds_seat": True}, 1, 1)
    assert [(h["change"], h["user_id"], h["account_owner"]) for h in history] == [
        ("subscription_set", None, False), ("account_opened", None, False), ("upgraded", "olive", True),
        ("reserved", "olive", True), ("denied", "ann", False)]
