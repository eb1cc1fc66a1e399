from datetime import date

import pytest

from crm_seats.domain.proration import prorate


@pytest.mark.parametrize(("start", "end", "days"), [
    (date(2026, 2, 1), date(2026, 3, 1), 28),   # February
    (date(2028, 2, 1), date(2028, 3, 1), 29),   # February of a leap year
    (date(2026, 4, 1), date(2026, 5, 1), 30),
    (date(2026, 1, 1), date(2026, 2, 1), 31),
    (date(2028, 1, 1), date(2029, 1, 1), 366),  # a leap year, billed yearly
])
def test_days_in_period_follow_the_calendar(start, end, days):
    assert prorate(10_000, start, end, start).days_in_period == days


def test_upgrade_on_the_first_day_costs_the_full_price():
    p = prorate(4900, date(2026, 2, 1), date(2026, 3, 1), date(2026, 2, 1))
    assert (p.days_remaining, p.amount_cents) == (28, 4900)


def test_upgrade_on_the_last_day_costs_one_day():
    p = prorate(4900, date(2026, 2, 1), date(2026, 3, 1), date(2026, 2, 28))
    assert (p.days_remaining, p.days_in_period, p.amount_cents) == (1, 28, 175)  # 4900/28 = 175
    leap = prorate(4900, date(2028, 2, 1), date(2028, 3, 1), date(2028, 2, 29))
    assert (leap.days_remaining, leap.days_in_period, leap.amount_cents) == (1, 29, 169)  # 168.97 -> 169


def test_rounding_is_half_up_to_the_cent():
    # 100 * 1 / 8 = 12.5 -> 13 ; 100 * 3 / 8 = 37.5 -> 38
    assert prorate(100, date(2026, 1, 1), date(2026, 1, 9), date(2026, 1, 8)).amount_cents == 13
    assert prorate(100, date(2026, 1, 1), date(2026, 1, 9), date(2026, 1, 6)).amount_cents == 38
    # 4999 * 10 / 31 = 1612.58 -> 1613
    assert prorate(4999, date(2026, 1, 1), date(2026, 2, 1), date(2026, 1, 22)).amount_cents == 1613


def test_outside_the_period_it_clamps_instead_of_going_negative():
    assert prorate(4900, date(2026, 11, 1), date(2026, 12, 1), date(2026, 12, 5)).amount_cents == 0
    assert prorate(4900, date(2026, 11, 1), date(2026, 12, 1), date(2026, 10, 20)).amount_cents == 4900
