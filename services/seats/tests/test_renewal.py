"""Renewal with the clock fixed: seats' handlers run through the runtime on a scratch database, with
"today" set by the test, so a period can end, a reduction take effect and a charge fall in the
renewed period — on days the test chose, with amounts written out."""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, date, datetime

import pytest

from crm_contracts import command, event_caused_by, identity, seats
from crm_runtime.batches import BatchProcessor
from crm_runtime.settings import ServiceSettings
from crm_seats import repository
from crm_seats.domain.invoices import invoices
from crm_seats.handlers import handlers

pytestmark = pytest.mark.stack


def next_common_year() -> int:
    """The first year after this one with a 28-day February: the days below are in it (and the
    December before it), so they never age into the past and the amounts stay as written."""
    year = date.today().year + 1
    while calendar.isleap(year):
        year += 1
    return year


Y = next_common_year()


def day(month: int, dom: int, year: int = Y) -> date:
    return date(year, month, dom)


async def test_after_the_period_ends_a_reduction_applies_and_charges_fall_in_the_new_period(pool, clock, published):
    clock.day = day(1, 20)
    processor = BatchProcessor("seats", handlers, None, group="renewal-test", settings=ServiceSettings(),
                               pool=pool, clock=clock)
    acc = "acc_" + uuid.uuid4().hex[:10]

    async def handle(data, **attrs):
        cause = command(data, source="test", accountid=acc, **attrs)
        outcome = await processor.handle_message(cause)
        assert outcome.name == "handled", outcome
        return cause

    def accepted(user: str):
        cause = command(identity.AcceptInvitation(token="t"), source="test", accountid=acc)
        return event_caused_by(cause, identity.InvitationAccepted(user_id=user, invitation_id=f"inv_{user}",
                                                                  kind="opt_in"), source="crm/identity")

    # Anchored on December 31: Dec 31 .. Jan 31, 31 days, 4 seats at 6200.
    await handle(seats.SetSubscription(seats_total=4, seat_price_cents=6200, currency="USD",
                                       period_start=day(12, 31, Y - 1), period_end=day(1, 31)))
    for user in ("a", "b"):
        await processor.handle_message(accepted(user))
    await handle(seats.ScheduleReduction(seats_total=3))
    assert await published(acc, "seats.subscription.reduction_scheduled") == [
        {"seats_total": 3, "effective_on": f"{Y}-01-31"}]

    # February 10: the anchor's February boundary is the 28th, so the period is Jan 31 .. Feb 28
    # (28 days), and the reduction applies at the renewal.
    clock.day = day(2, 10)
    await processor.handle_message(accepted("c"))  # a free seat of the three: no upgrade
    assert await published(acc, "seats.period.renewed") == [
        {"period_start": f"{Y}-01-31", "period_end": f"{Y}-02-28", "seats_total": 3, "seat_price_cents": 6200,
         "currency": "USD"}]
    assert await published(acc, "seats.subscription.reduced") == [
        {"from_total": 4, "to_total": 3, "period_start": f"{Y}-01-31"}]
    await processor.handle_message(accepted("d"))  # none free: upgraded, 6200 × 18 / 28 = 3985.71
    [charge] = await published(acc, "seats.charge.created")
    assert (charge["amount_cents"], charge["period_start"], charge["period_end"], charge["charged_on"],
            charge["proration"]) == (3986, f"{Y}-01-31", f"{Y}-02-28", f"{Y}-02-10",
                                     {"days_remaining": 18, "days_in_period": 28})

    # The next period, Feb 28 .. Mar 31 (31 days, back on the anchor's day), on March 1: one more
    # seat costs 6200 × 30 / 31 = 6000; each period entered is published once.
    clock.day = day(3, 1)
    await processor.handle_message(accepted("e"))
    renewed = await published(acc, "seats.period.renewed")
    assert [(r["period_start"], r["period_end"], r["seats_total"]) for r in renewed] == [
        (f"{Y}-01-31", f"{Y}-02-28", 3), (f"{Y}-02-28", f"{Y}-03-31", 4)]
    assert [c["amount_cents"] for c in await published(acc, "seats.charge.created")] == [3986, 6000]

    async with pool.acquire() as conn:
        bills = invoices(await repository.ledger.billing_periods(conn, acc), await repository.ledger.charges(conn, acc))
    assert [(b["period_start"].isoformat(), b["recurring"]["amount_cents"],
             [c["amount_cents"] for c in b["charges"]], b["total_cents"]) for b in bills["invoices"]] == [
        (f"{Y - 1}-12-31", 4 * 6200, [], 24800), (f"{Y}-01-31", 3 * 6200, [3986], 18600 + 3986),
        (f"{Y}-02-28", 4 * 6200, [6000], 24800 + 6000)]


class At:
    """A clock fixed at one instant."""

    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def __call__(self, _message) -> datetime:
        return self.instant


async def test_the_billing_day_is_the_accounts_own_at_2330_local(pool, published):
    """Los Angeles, 23:30 on the last day of the period is 07:30 the next day in UTC: the upgrade
    made then is still charged in the period that ends that local day, for its last day."""
    from zoneinfo import ZoneInfo

    la = ZoneInfo("America/Los_Angeles")
    clock = At(datetime(Y, 1, 31, 23, 30, tzinfo=la))
    assert clock.instant.astimezone(UTC).date() == day(2, 1)
    processor = BatchProcessor("seats", handlers, None, group="zone-test", settings=ServiceSettings(),
                               pool=pool, clock=clock)
    acc = "acc_" + uuid.uuid4().hex[:10]
    cause = command(seats.SetSubscription(seats_total=1, seat_price_cents=3100, currency="USD",
                                          period_start=day(1, 1), period_end=day(2, 1),
                                          time_zone="America/Los_Angeles"), source="test", accountid=acc)
    assert (await processor.handle_message(cause)).name == "handled"
    for user in ("a", "b"):
        accepted = command(identity.AcceptInvitation(token="t"), source="test", accountid=acc)
        await processor.handle_message(event_caused_by(accepted, identity.InvitationAccepted(
            user_id=user, invitation_id=f"inv_{user}", kind="opt_in"), source="crm/identity"))
    [charge] = await published(acc, "seats.charge.created")
    # Jan 1 .. Feb 1 is 31 days; on Jan 31 one is left: 3100 × 1 / 31 = 100.
    assert (charge["charged_on"], charge["period_end"], charge["amount_cents"], charge["proration"]) == (
        f"{Y}-01-31", f"{Y}-02-01", 100, {"days_remaining": 1, "days_in_period": 31})
    assert await published(acc, "seats.period.renewed") == []
    [changed] = await published(acc, "seats.subscription.changed")
    assert changed["time_zone"] == "America/Los_Angeles"

    unknown = command(seats.SetSubscription(seats_total=1, seat_price_cents=3100, currency="USD",
                                            period_start=day(1, 1), period_end=day(2, 1), time_zone="Mars/Olympus"),
                      source="test", accountid=acc)
    refused = await processor.handle_message(unknown)
    assert (refused.name, refused.reason) == ("rejected", "unknown_time_zone")


def next_leap_year() -> int:
    """The first leap year after this one: its February has 29 days and never ages into the past."""
    year = date.today().year + 1
    while not calendar.isleap(year):
        year += 1
    return year


async def test_packages_add_ons_and_calling_packages_bill_every_period_until_the_instance_is_cancelled(
        pool, clock, published, account):
    """Anchored on the 15th of a leap year's January: Jan 15 .. Feb 15 (31 days), Feb 15 .. Mar 15
    (29 days), Mar 15 .. Apr 15 (31 days). Bought on Jan 25 with 21 of 31 days left, each item is
    charged pro-rated once, then in full at every renewal while it is held."""
    leap = next_leap_year()
    clock.day = date(leap, 1, 25)
    acc, handle, fact = account.id, account, account.fact
    ent, team = f"ins_{acc}", f"ins_team_{acc}"

    await fact(identity.AccountCreated(account_id=acc, tier="enterprise", enterprise_instance_id=ent,
                                       owner_user_id="olive"))
    await handle(seats.SetSubscription(seats_total=2, seat_price_cents=1000, currency="USD",
                                       period_start=date(leap, 1, 15), period_end=date(leap, 2, 15)))
    await fact(identity.MemberAdded(user_id="ann", user_type="platform", activation="immediate", status="active",
                                    group_id=None, email="ann@example.com"))
    await fact(identity.InstanceCreated(instance_id=team, owner_user_id="ann", package="crm_idx_team", name="Team",
                                        parsing_email="team@example.com", website_id=None))
    await fact(identity.InstanceMemberJoined(instance_id=team, user_id="ann", role="owner"))
    await handle(seats.PurchaseAddon(instance_id=team, addon="ai_assistant", buyer_user_id="ann"))
    await handle(seats.PurchaseCallingPackage(package_id="calling_pro", buyer_user_id="ann", assigned_user_id="ann",
                                              instance_id=ent))

    # Feb 20 (Feb 15 .. Mar 15, 29 days: 24 left): a second add-on, pro-rated; the renewal bills
    # the three items held since January in full.
    clock.day = date(leap, 2, 20)
    await handle(seats.PurchaseAddon(instance_id=team, addon="home_report", buyer_user_id="ann"))
    # Mar 1: the team instance is cancelled; it is not renewed on Mar 15, its add-ons neither.
    clock.day = date(leap, 3, 1)
    await fact(identity.InstanceCancelled(instance_id=team, by_user_id="ann",
                                          read_only_until=datetime(leap, 4, 1, tzinfo=UTC)))
    clock.day = date(leap, 4, 20)
    await handle(seats.ScheduleReduction(seats_total=1))  # any message of the account renews it

    charges = [(c["item"], c["period_start"], c["amount_cents"], c["proration"]["days_remaining"])
               for c in await published(acc, "seats.charge.created")]
    jan, feb, mar, apr = (f"{leap}-01-15", f"{leap}-02-15", f"{leap}-03-15", f"{leap}-04-15")
    assert charges == [
        ("package:crm_idx_team", jan, 10094, 21),   # 14900 × 21 / 31 = 10093.55
        ("addon:ai_assistant", jan, 1694, 21),       # 2500 × 21 / 31 = 1693.55
        ("calling:calling_pro", jan, 2642, 21),      # 3900 × 21 / 31 = 2641.94
        ("addon:ai_assistant", feb, 2500, 29),       # renewals, in the order of what they renew
        ("calling:calling_pro", feb, 3900, 29),
        ("package:crm_idx_team", feb, 14900, 29),
        ("addon:home_report", feb, 1241, 24),        # 1500 × 24 / 29 = 1241.38
        ("calling:calling_pro", mar, 3900, 31),      # the team instance was cancelled on Mar 1
        ("calling:calling_pro", apr, 3900, 30),
    ]
    async with pool.acquire() as conn:
        bills = invoices(await repository.ledger.billing_periods(conn, acc), await repository.ledger.charges(conn, acc))
    assert [(b["period_start"].isoformat(), sorted((c["item"], c["amount_cents"]) for c in b["charges"]),
             b["total_cents"]) for b in bills["invoices"]] == [
        (jan, [("addon:ai_assistant", 1694), ("calling:calling_pro", 2642), ("package:crm_idx_team", 10094)],
         2 * 1000 + 10094 + 1694 + 2642),
        (feb, [("addon:ai_assistant", 2500), ("addon:home_report", 1241), ("calling:calling_pro", 3900),
               ("package:crm_idx_team", 14900)], 2 * 1000 + 2500 + 3900 + 14900 + 1241),
        (mar, [("calling:calling_pro", 3900)], 2 * 1000 + 3900),
        (apr, [("calling:calling_pro", 3900)], 2 * 1000 + 3900),
    ]


async def test_a_cancelled_add_on_runs_to_the_end_of_its_period_and_is_not_renewed(pool, clock, published, account):
    """Jan 15 .. Feb 15 (31 days), Feb 15 .. Mar 15 (28), Mar 15 .. Apr 15 (31), in a common year."""
    clock.day = day(1, 25)
    acc, handle, fact = account.id, account, account.fact
    team = f"ins_team_{acc}"

    async def held_by_ann() -> list[str]:
        async with pool.acquire() as conn:
            return sorted((await repository.purchases.entitlement_facts(conn, acc, "ann", team, clock.day))[0])

    await fact(identity.AccountCreated(account_id=acc, tier="enterprise", enterprise_instance_id=f"ins_{acc}",
                                       owner_user_id="olive"))
    await handle(seats.SetSubscription(seats_total=3, seat_price_cents=1000, currency="USD",
                                       period_start=day(1, 15), period_end=day(2, 15)))
    for user in ("ann", "bob"):
        await fact(identity.MemberAdded(user_id=user, user_type="platform", activation="immediate", status="active",
                                        group_id=None, email=f"{user}@example.com"))
    await fact(identity.InstanceCreated(instance_id=team, owner_user_id="ann", package="crm_idx_team", name="Team",
                                        parsing_email="team@example.com", website_id=None))
    await fact(identity.InstanceMemberJoined(instance_id=team, user_id="ann", role="owner"))
    await handle(seats.PurchaseAddon(instance_id=team, addon="ai_assistant", buyer_user_id="ann"))

    clock.day = day(2, 20)
    await handle(seats.CancelAddon(instance_id=team, addon="ai_assistant", by_user_id="bob"),
                 rejected="not_account_admin")  # neither its buyer nor an admin
    await handle(seats.CancelAddon(instance_id=team, addon="home_report", by_user_id="ann"),
                 rejected="not_account_admin")  # none held: only the account's admins learn that
    await handle(seats.CancelAddon(instance_id=team, addon="home_report", by_user_id="olive"), rejected="addon_not_active")
    await handle(seats.CancelAddon(instance_id=team, addon="ai_assistant", by_user_id="ann"))
    await handle(seats.CancelAddon(instance_id=team, addon="ai_assistant", by_user_id="olive"),
                 rejected="addon_already_cancelled")
    [cancelled] = await published(acc, "seats.addon.cancelled")
    assert (cancelled["by_user_id"], cancelled["buyer_user_id"], cancelled["ends_on"]) == ("ann", "ann", f"{Y}-03-15")
    assert await held_by_ann() == ["ai_assistant"]  # paid for to Mar 15, usable to then

    clock.day = day(3, 1)  # bought again before it stopped: it goes on, nothing more is charged
    await handle(seats.PurchaseAddon(instance_id=team, addon="ai_assistant", buyer_user_id="ann"))
    await handle(seats.CancelAddon(instance_id=team, addon="ai_assistant", by_user_id="olive"))  # the owner may

    clock.day = day(3, 20)
    assert await held_by_ann() == []
    await handle(seats.CancelAddon(instance_id=team, addon="ai_assistant", by_user_id="ann"), rejected="addon_not_active")
    await handle(seats.PurchaseAddon(instance_id=team, addon="ai_assistant", buyer_user_id="ann"))  # a new purchase
    assert await held_by_ann() == ["ai_assistant"]

    assert [p["resumed"] for p in await published(acc, "seats.addon.purchased")] == [False, True, False]
    charges = [(c["item"], c["period_start"], c["amount_cents"]) for c in await published(acc, "seats.charge.created")
               if c["item"] == "addon:ai_assistant"]
    assert charges == [
        ("addon:ai_assistant", f"{Y}-01-15", 1694),  # 2500 × 21 / 31 = 1693.55
        ("addon:ai_assistant", f"{Y}-02-15", 2500),  # renewed: held when February's period began
        ("addon:ai_assistant", f"{Y}-03-15", 2097),  # not renewed on Mar 15; bought anew: 2500 × 26 / 31
    ]
