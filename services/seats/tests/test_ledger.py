from datetime import date

import pytest

from crm_seats.domain.ledger import LedgerError, empty


def plan(sub, total, currency="USD"):
    return sub.set_plan(seats_total=total, seat_price_cents=4900, currency=currency,
                        period_start=date(2026, 11, 1), period_end=date(2026, 12, 1))


def test_a_plan_sets_total_and_keeps_used():
    sub = plan(empty("acc"), 5)
    assert (sub.seats_total, sub.seats_used, sub.available) == (5, 0, 5)


def test_total_cannot_drop_below_seats_held():
    held = plan(empty("acc"), 5).__class__(**{**plan(empty("acc"), 5).__dict__, "seats_used": 3})
    with pytest.raises(LedgerError) as err:
        plan(held, 2)
    assert err.value.reason == "seats_below_used"
    with pytest.raises(LedgerError) as err:
        plan(held, 5, currency="EUR")
    assert err.value.reason == "currency_change_not_allowed"
