"""Money over time on the live stack: periods that renew, quotes equal to the charges made, limits on
automatic upgrades, dormant seats, reductions at renewal and invoices per period.

Periods are derived from today (months back from the 1st of this month); every expected amount is
worked out here from those dates (`money.prorated`), never read from the event under test."""

from __future__ import annotations

import asyncio
import calendar
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from money import prorated, this_month_price

from crm_contracts import identity, seats
from crm_devstack import dates

pytestmark = pytest.mark.stack


async def get(platform, service: str, path: str, user: str | None = None, **params) -> httpx.Response:
    headers = platform.stack.auth.as_user(user) if user else platform.stack.auth.as_operator()
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"{platform.stack.http(service)}{path}", params=params, headers=headers)


async def accept(platform, account_id: str, user_id: str):
    """Add `user_id` by opt-in and accept the invitation through the command topic."""
    await platform.add(account_id, user_id)
    issued = await platform.invitation(account_id, user_id)
    token = parse_qs(urlparse(platform.stack.auth.invitation_link(issued)).query)["token"][0]
    return await platform.send(account_id, identity.AcceptInvitation(token=token))


async def test_a_period_that_ended_renews_and_the_upgrade_costs_its_quote(platform, account_id):
    today = dates.today()
    two_back, last, this, following = (dates.month_start(today, m) for m in (-2, -1, 0, 1))
    await platform.enterprise(account_id, seats_total=2)  # the owner's and one more
    # Billing sets the period of two months ago: it ended, so it renews twice, at once.
    await platform.subscription(account_id, 2, period_start=two_back.isoformat(), period_end=last.isoformat())
    renewed = await platform.bus.wait_event("seats.period.renewed", count=2, where=lambda e: e.accountid == account_id)
    assert [(e.data["period_start"], e.data["period_end"], e.data["seats_total"]) for e in renewed] == [
        (last.isoformat(), this.isoformat(), 2), (this.isoformat(), following.isoformat(), 2)]

    expected = this_month_price(4900)
    assert expected > 0
    quoted = await get(platform, "seats", "/v1/quotes", account_id=account_id, item="seat")
    assert quoted.status_code == 200, quoted.text
    assert quoted.json() | {"account_id": None} == {
        "account_id": None, "item": "seat", "amount_cents": expected, "currency": "USD", "unit_price_cents": 4900,
        "days_remaining": (following - today).days, "days_in_period": calendar.monthrange(this.year, this.month)[1],
        "period_start": this.isoformat(), "period_end": following.isoformat()}
    # On the first day of next month: the full price of next month.
    ahead = await get(platform, "seats", "/v1/quotes", account_id=account_id, item="seat", on=following.isoformat())
    assert (ahead.json()["amount_cents"], ahead.json()["period_start"]) == (4900, following.isoformat())

    await platform.answer(await platform.add(account_id, "u0", activation="immediate"), "seats.seat.reserved")
    charge = await platform.answer(await accept(platform, account_id, "u1"), "seats.charge.created")
    assert charge.data["amount_cents"] == expected == quoted.json()["amount_cents"]
    assert (charge.data["period_start"], charge.data["period_end"], charge.data["charged_on"]) == (
        this.isoformat(), following.isoformat(), today.isoformat())

    bills = (await get(platform, "seats", "/v1/invoices", account_id=account_id)).json()
    assert [(b["period_start"], b["recurring"]["amount_cents"], [c["amount_cents"] for c in b["charges"]],
             b["total_cents"]) for b in bills["invoices"]] == [
        (two_back.isoformat(), 9800, [], 9800), (last.isoformat(), 9800, [], 9800),
        (this.isoformat(), 9800, [expected], 9800 + expected)]


async def test_a_package_quote_is_for_members_and_equals_its_charge(platform, account_id):
    await platform.enterprise(account_id, seats_total=3)
    await platform.active(account_id, "ann")
    await platform.stack.settled()  # seats answers from its own copy of ann's status
    quoted = await get(platform, "seats", "/v1/quotes", user="ann", account_id=account_id,
                       item="package:crm_idx_team")
    assert quoted.status_code == 200, quoted.text
    assert quoted.json()["amount_cents"] == this_month_price(14900)
    # A member may not ask what the account's seats cost, nor may someone from outside it.
    assert (await get(platform, "seats", "/v1/quotes", user="ann", account_id=account_id,
                      item="seat")).status_code == 403
    assert (await get(platform, "seats", "/v1/quotes", user="stranger", account_id=account_id,
                      item="package:crm_idx_team")).status_code == 403
    bad = await get(platform, "seats", "/v1/quotes", account_id=account_id, item="package:yacht")
    assert (bad.status_code, bad.json()["error"]) == (422, "unknown_item")
    charged = await platform.answer(await platform.bought(account_id, "ann"), "seats.charge.created")
    assert charged.data["amount_cents"] == quoted.json()["amount_cents"]


async def test_racing_acceptances_never_pass_the_auto_upgrade_limit(platform, account_id):
    n, paid, limit = 50, 2, 5  # the owner holds one of the paid seats: limit - 1 are for agents
    await platform.enterprise(account_id, seats_total=paid)
    await platform.subscription(account_id, paid, auto_upgrade={"mode": "limit", "max_seats": limit})
    users = [f"agent{i:02d}" for i in range(n)]
    await asyncio.gather(*(accept(platform, account_id, u) for u in users))
    answered = await platform.bus.wait_event(
        "seats.seat.reserved", count=limit - 1, timeout=120,
        where=lambda e: e.accountid == account_id and e.data["user_id"] in users)
    denied = await platform.bus.wait_event(
        "seats.seat.denied", count=n - (limit - 1), timeout=120, where=lambda e: e.accountid == account_id)
    assert len({e.data["user_id"] for e in answered}) == limit - 1
    assert {e.data["reason"] for e in denied} == {"auto_upgrade_limit_reached"}
    assert len(platform.events(account_id, "seats.account.upgraded")) == limit - paid
    ledger = await platform.seats(account_id)
    assert (ledger["summary"]["seats_total"], ledger["summary"]["seats_used"]) == (limit, limit)
    waiting = denied[0].data["user_id"]
    await platform.status(account_id, waiting, "seat_unavailable")

    # Billing buys a seat; reactivating the member who waited seats them (they accepted already:
    # no second invitation), without an upgrade.
    await platform.subscription(account_id, limit + 1, auto_upgrade={"mode": "off"})
    back = await platform.send(account_id, identity.ReactivateMember(by_user_id=f"{account_id}_owner", user_id=waiting))
    assert (await platform.answer(back, "seats.seat.reserved")).data["auto_upgraded"] is False
    await platform.status(account_id, waiting, "pending_activation")
    assert len(platform.events(account_id, "identity.invitation.issued", waiting)) == 1
    # With upgrades off, the next acceptance waits too.
    late = await platform.answer(await accept(platform, account_id, "late"), "seats.seat.denied")
    assert late.data["reason"] == "auto_upgrade_off"


async def test_dormant_seats_and_a_reduction_at_the_next_renewal(platform, account_id):
    await platform.enterprise(account_id, seats_total=5)
    await platform.active(account_id, "ann")
    await platform.answer(await platform.add(account_id, "bob", activation="immediate"), "seats.seat.reserved")
    await platform.status(account_id, "bob", "pending_activation")

    dormant = await get(platform, "seats", "/v1/seats/dormant", account_id=account_id, days=0)
    assert dormant.status_code == 200, dormant.text
    assert [(s["user_id"], s["status"], s["cost_per_period_cents"]) for s in dormant.json()["seats"]] == [
        ("bob", "pending_activation", 4900)]
    # The owner (always active) is not dormant; got today: not dormant yet at 30 days.
    assert (await get(platform, "seats", "/v1/seats/dormant", account_id=account_id)).json()["seats"] == []
    assert (await get(platform, "seats", "/v1/seats/dormant", user="bob", account_id=account_id)).status_code == 403

    too_far = await platform.send(account_id, seats.ScheduleReduction(seats_total=2))  # owner, ann, bob hold 3
    assert await platform.rejected(too_far, "seats") == "below_seats_in_use"
    scheduled = await platform.answer(await platform.send(account_id, seats.ScheduleReduction(seats_total=3)),
                                      "seats.subscription.reduction_scheduled")
    assert scheduled.data == {"seats_total": 3, "effective_on": dates.month_start(dates.today(), 1).isoformat()}
    summary = (await platform.seats(account_id))["summary"]
    assert (summary["seats_total"], summary["scheduled_seats_total"]) == (5, 3)


async def test_an_upgrade_in_a_year_long_period(platform, account_id):
    today = dates.today()
    start = dates.month_start(today)
    end = start.replace(year=start.year + 1)
    await platform.enterprise(account_id, seats_total=1)  # the owner's: u1's is bought
    await platform.subscription(account_id, 1, interval="year", period_start=start.isoformat(),
                                period_end=end.isoformat())
    charge = await platform.answer(await accept(platform, account_id, "u1"), "seats.charge.created")
    assert charge.data["amount_cents"] == prorated(4900, start, end) > 0
    assert charge.data["proration"]["days_in_period"] == (end - start).days


async def test_a_command_dated_next_year_is_handled_in_todays_period(platform, account_id):
    """"Now" is when the platform received a command (the broker's append time), never the `time`
    its sender wrote: a reduction dated a year ahead takes effect at this month's renewal and
    renews nothing into that year."""
    from datetime import UTC, datetime, timedelta

    from crm_contracts import command

    await platform.enterprise(account_id, seats_total=3)
    dated = command(seats.ScheduleReduction(seats_total=2), source="test", accountid=account_id)
    dated = dated.model_copy(update={"time": datetime.now(UTC) + timedelta(days=366)})
    scheduled = await platform.answer(await platform.bus.send(dated), "seats.subscription.reduction_scheduled")
    assert scheduled.data["effective_on"] == dates.month_start(dates.today(), 1).isoformat()
    summary = (await platform.seats(account_id))["summary"]
    start, end = dates.this_month()
    assert (summary["period_start"], summary["period_end"]) == (start.isoformat(), end.isoformat())


async def test_a_cancelled_add_on_runs_to_the_period_end_and_leaves_the_next_invoice(platform, account_id):
    await platform.enterprise(account_id, seats_total=3)
    for user in ("ann", "bob"):
        await platform.active(account_id, user)
    team = (await platform.bought(account_id, "ann", "crm_idx_team")).data["instance_id"]
    await platform.answer(await platform.send(account_id, seats.PurchaseAddon(instance_id=team, addon="cma",
                                                                              buyer_user_id="ann")),
                          "seats.addon.purchased")

    by_bob = await platform.send(account_id, seats.CancelAddon(instance_id=team, addon="cma", by_user_id="bob"))
    assert await platform.rejected(by_bob, "seats") == "not_account_admin"  # neither its buyer nor an admin
    stopped = await platform.answer(await platform.send(
        account_id, seats.CancelAddon(instance_id=team, addon="cma", by_user_id="ann")), "seats.addon.cancelled")
    assert stopped.data["ends_on"] == dates.month_start(dates.today(), 1).isoformat()  # the plan renews on the 1st
    await platform.stack.settled()

    held = (await get(platform, "seats", "/v1/entitlements", user="ann", instance_id=team)).json()["items"]
    assert next(i for i in held if i["item"] == "addon:cma")["available"]  # paid for to the period's end
    upcoming = (await get(platform, "seats", "/v1/invoices", account_id=account_id)).json()["upcoming"]
    assert [(r["item"], r["amount_cents"]) for r in upcoming["renewals"]] == [("package:crm_idx_team", 14900)]
    assert upcoming["total_cents"] == 3 * 4900 + 14900
