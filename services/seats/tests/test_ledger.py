from dataclasses import replace
from datetime import date

import pytest

from crm_seats.domain.prices import quote
from crm_seats.domain.ledger import LedgerError, Subscription

NOV = (date(2026, 11, 1), date(2026, 12, 1))


def sub(total=0, used=0, price=4900, period=NOV) -> Subscription:
    return Subscription(account_id="acc", seats_total=total, seats_used=used, seat_price_cents=price,
                        currency="USD", period_start=period[0] if period else None,
                        period_end=period[1] if period else None, anchor=period[0] if period else None)


def plan(s, total, currency="USD"):
    return s.set_plan(seats_total=total, seat_price_cents=4900, currency=currency,
                      period_start=NOV[0], period_end=NOV[1])


def test_a_plan_sets_total_and_keeps_used():
    s = plan(sub(period=None), 5)
    assert (s.seats_total, s.seats_used, s.available) == (5, 0, 5)


def test_total_cannot_drop_below_seats_held_nor_switch_currency():
    held = sub(total=5, used=3)
    with pytest.raises(LedgerError) as err:
        plan(held, 2)
    assert err.value.reason == "seats_below_used"
    with pytest.raises(LedgerError) as err:
        plan(held, 5, currency="EUR")
    assert err.value.reason == "currency_change_not_allowed"


def test_reserve_takes_a_free_seat_and_refuses_when_none_is_free():
    assert sub(total=2, used=1).reserve().seats_used == 2
    with pytest.raises(LedgerError) as err:
        sub(total=2, used=2).reserve()
    assert err.value.reason == "no_seat_available"


def test_upgrade_adds_exactly_one_seat_at_the_current_price():
    before = sub(total=2, used=2)
    upgraded = before.upgrade_one()
    assert (upgraded.seats_total, upgraded.seats_used, upgraded.seat_price_cents) == (3, 2, 4900)
    q = quote("seat", before.seat_price_cents, "USD", before, date(2026, 11, 16))
    assert (q.days_remaining, q.days_in_period, q.amount_cents) == (15, 30, 2450)
    assert upgraded.reserve().seats_used == 3


def test_no_upgrade_without_a_subscription():
    with pytest.raises(LedgerError) as err:
        sub(period=None).upgrade_one()
    assert err.value.reason == "no_subscription"


def test_release_gives_a_seat_back():
    assert replace(sub(total=2, used=2)).release().available == 1


def test_automatic_upgrades_stop_at_the_limit_or_when_off():
    limited = replace(sub(total=2, used=2), auto_upgrade_mode="limit", auto_upgrade_max=3)
    assert limited.upgrade_one().seats_total == 3
    with pytest.raises(LedgerError) as err:
        replace(limited, seats_total=3, seats_used=3).upgrade_one()
    assert err.value.reason == "auto_upgrade_limit_reached"
    with pytest.raises(LedgerError) as err:
        replace(sub(total=2, used=2), auto_upgrade_mode="off").upgrade_one()
    assert err.value.reason == "auto_upgrade_off"


def test_a_reduction_is_refused_below_the_seats_held_and_applies_at_renewal():
    held = sub(total=5, used=3)
    with pytest.raises(LedgerError) as err:
        held.schedule_reduction(2)
    assert err.value.reason == "below_seats_in_use"
    scheduled = held.schedule_reduction(3)
    assert scheduled.seats_total == 5  # nothing changes before the period ends
    same, none = scheduled.renewed_to(date(2026, 11, 30))
    assert (same.seats_total, none) == (5, [])
    renewed, [renewal] = scheduled.release().renewed_to(date(2026, 12, 1))  # a seat given back meanwhile
    assert (renewed.seats_total, renewal.seats_total, renewal.reduced_from) == (3, 3, 5)
    assert (renewal.period.start, renewal.period.end) == (date(2026, 12, 1), date(2027, 1, 1))
    assert renewed.scheduled_seats_total is None


def test_a_reduction_never_goes_below_the_seats_held_at_renewal():
    scheduled = replace(sub(total=5, used=2).schedule_reduction(2), seats_used=4)  # two seats taken since
    renewed, [renewal] = scheduled.renewed_to(date(2026, 12, 3))
    assert (renewed.seats_total, renewal.reduced_from) == (4, 5)


def test_the_same_plan_set_again_keeps_its_cycle_where_it_has_renewed_to():
    renewed, _ = sub(total=2).renewed_to(date(2027, 1, 5))  # November's plan, now in January
    again = renewed.set_plan(seats_total=3, seat_price_cents=5000, currency="USD", period_start=NOV[0],
                             period_end=NOV[1])
    assert (again.period_start, again.period_end, again.anchor) == (date(2027, 1, 1), date(2027, 2, 1), NOV[0])
    assert again.renewed_to(date(2027, 1, 5))[1] == []
    moved = renewed.set_plan(seats_total=3, seat_price_cents=5000, currency="USD", period_start=date(2027, 1, 10),
                             period_end=date(2027, 2, 10))  # a new anchor starts a new cycle
    assert (moved.period_start, moved.anchor) == (date(2027, 1, 10), date(2027, 1, 10))
