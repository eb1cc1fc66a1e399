from dataclasses import replace
from datetime import date

import pytest

from crm_seats.domain.prices import charge
from crm_seats.domain.ledger import LedgerError, Subscription

NOV = (date(2026, 11, 1), date(2026, 12, 1))


def sub(total=0, used=0, price=4900, period=NOV) -> Subscription:
    return Subscription(account_id="acc", seats_total=total, seats_used=used, seat_price_cents=price,
                        currency="USD", period_start=period[0] if period else None,
                        period_end=period[1] if period else None)


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
    proration, _ = charge(before.seat_price_cents, before.period_start, before.period_end, date(2026, 11, 16))
    assert (proration.days_remaining, proration.days_in_period, proration.amount_cents) == (15, 30, 2450)
    assert upgraded.reserve().seats_used == 3


def test_no_upgrade_without_a_subscription():
    with pytest.raises(LedgerError) as err:
        sub(period=None).upgrade_one()
    assert err.value.reason == "no_subscription"


def test_release_gives_a_seat_back():
    assert replace(sub(total=2, used=2)).release().available == 1
