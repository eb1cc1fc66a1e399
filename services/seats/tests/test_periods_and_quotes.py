"""Periods that renew from an anchor, and what a purchase costs on a given day.

Every amount here is written out or computed from dates the test chose, with the arithmetic in
the comment: unit price × days remaining (the purchase day included) / days in the period,
rounded half up to the cent."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_contracts.seats import Interval
from crm_seats.domain.ledger import Subscription
from crm_seats.domain.periods import Period, add_months, boundary_after, period_containing, periods_until
from crm_seats.domain.prices import quote

M, Y = Interval.MONTH, Interval.YEAR


def plan(start: date, end: date, interval: Interval = M, price: int = 4900, **kw) -> Subscription:
    return Subscription(account_id="acc", seats_total=2, seats_used=0, seat_price_cents=price, currency="USD",
                        period_start=start, period_end=end, anchor=start, interval=interval.value, **kw)


def cost(sub: Subscription, on: date, price: int | None = None) -> tuple[int, int, int, date, date]:
    q = quote("seat", sub.seat_price_cents if price is None else price, "USD", sub, on)
    return q.amount_cents, q.days_remaining, q.days_in_period, q.period_start, q.period_end


def test_a_31st_anchor_falls_on_the_last_day_of_shorter_months():
    anchor = date(2027, 1, 31)
    assert [add_months(anchor, k) for k in range(5)] == [
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30), date(2027, 5, 31)]
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)  # a leap year
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert boundary_after(anchor, M, date(2027, 2, 28)) == date(2027, 3, 31)
    assert boundary_after(anchor, M, date(2027, 2, 27)) == date(2027, 2, 28)


def test_periods_entered_after_a_long_silence_are_each_listed():
    current = Period(date(2027, 1, 31), date(2027, 2, 28))
    assert periods_until(date(2027, 1, 31), M, current, date(2027, 2, 27)) == []
    assert periods_until(date(2027, 1, 31), M, current, date(2027, 4, 30)) == [
        Period(date(2027, 2, 28), date(2027, 3, 31)), Period(date(2027, 3, 31), date(2027, 4, 30)),
        Period(date(2027, 4, 30), date(2027, 5, 31))]


def test_a_first_period_off_the_anchor_is_followed_by_the_next_boundary():
    # Set on the 10th, first period to the 1st of next month, anchor the 10th: the 2nd period is
    # 1st..10th, then 10th..10th.
    current = Period(date(2027, 3, 10), date(2027, 4, 1))
    assert period_containing(date(2027, 3, 10), M, current, date(2027, 4, 5)) == Period(date(2027, 4, 1),
                                                                                      date(2027, 4, 10))
    assert period_containing(date(2027, 3, 10), M, current, date(2027, 4, 10)) == Period(date(2027, 4, 10),
                                                                                       date(2027, 5, 10))


def test_first_day_costs_the_full_price_and_last_day_one_day():
    feb = plan(date(2027, 2, 1), date(2027, 3, 1))
    assert cost(feb, date(2027, 2, 1)) == (4900, 28, 28, date(2027, 2, 1), date(2027, 3, 1))
    assert cost(feb, date(2027, 2, 28)) == (175, 1, 28, date(2027, 2, 1), date(2027, 3, 1))  # 4900/28 = 175


def test_a_period_that_ended_last_month_is_charged_in_the_renewed_period():
    # November's period, bought on December 10: 22 of December's 31 days, 4900 × 22 / 31 = 3477.42
    nov = plan(date(2026, 11, 1), date(2026, 12, 1))
    assert cost(nov, date(2026, 12, 10)) == (3477, 22, 31, date(2026, 12, 1), date(2027, 1, 1))
    # ... and three periods later: March 2027, bought on the 31st: 4900 × 1 / 31 = 158.06
    assert cost(nov, date(2027, 3, 31)) == (158, 1, 31, date(2027, 3, 1), date(2027, 4, 1))


def test_the_31st_anchor_in_february():
    jan31 = plan(date(2027, 1, 31), date(2027, 2, 28))
    # In the period Feb 28 .. Mar 31 (31 days), bought on March 1: 30 days, 3000 × 30 / 31 = 2903.23
    assert cost(jan31, date(2027, 3, 1), price=3000) == (2903, 30, 31, date(2027, 2, 28), date(2027, 3, 31))
    # In a leap year the February boundary is the 29th: Jan 31 .. Feb 29 has 29 days; on Feb 20, 9 days
    leap = plan(date(2028, 1, 31), date(2028, 2, 29))
    assert cost(leap, date(2028, 2, 20), price=2900) == (900, 9, 29, date(2028, 1, 31), date(2028, 2, 29))


def test_a_year_interval_and_a_leap_year():
    yearly = plan(date(2027, 3, 1), date(2028, 3, 1), interval=Y, price=36_600)
    # 2027-03-01 .. 2028-03-01 holds February 29, 2028: 366 days; on 2028-02-01, 29 days left
    assert cost(yearly, date(2028, 2, 1)) == (2900, 29, 366, date(2027, 3, 1), date(2028, 3, 1))
    # renewed: 2028-03-01 .. 2029-03-01 has 365 days; on its first day the full price
    assert cost(yearly, date(2028, 3, 1)) == (36_600, 365, 365, date(2028, 3, 1), date(2029, 3, 1))
    # 36600 × 100 / 365 = 10027.40
    assert cost(yearly, date(2029, 3, 1) - timedelta(days=100)) == (10027, 100, 365, date(2028, 3, 1),
                                                                    date(2029, 3, 1))


def test_no_period_pays_one_full_month():
    none = Subscription(account_id="acc", seats_total=0, seats_used=0, seat_price_cents=0, currency="USD",
                        period_start=None, period_end=None)
    assert cost(none, date(2027, 5, 5), price=1500) == (1500, 30, 30, date(2027, 5, 5), date(2027, 6, 4))


def _brute_force_period(anchor: date, interval: Interval, first: Period, day: date) -> Period:
    """The period of `day` by walking boundaries one by one from the anchor — no estimates."""
    if day < first.end:
        return first
    step = 1 if interval is M else 12
    k, start = 0, first.end
    while True:
        b = add_months(anchor, k * step)
        if b > start:
            if day < b:
                return Period(start, b)
            start = b
        k += 1


days = st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 12, 31))


@settings(max_examples=300, deadline=None)
@given(start=days, first_len=st.integers(1, 400), later=st.integers(0, 800),
       price=st.integers(0, 1_000_000), interval=st.sampled_from([M, Y]), stops=st.lists(st.integers(0, 800), max_size=4))
def test_the_quote_equals_the_charge_made_that_day(start, first_len, later, price, interval, stops):
    """A quote for day D, from the subscription as stored (however stale), equals the charge made on
    D after the renewals that messages on earlier days made; both equal the brute-force figure."""
    first = Period(start, start + timedelta(days=first_len))
    on = start + timedelta(days=later)
    sub = plan(first.start, first.end, interval, price)
    quoted = quote("seat", price, "USD", sub, on)

    charged_sub = sub
    for stop in sorted(s for s in stops if s <= later):  # earlier messages renew the stored period
        charged_sub, _ = charged_sub.renewed_to(start + timedelta(days=stop))
    charged_sub, _ = charged_sub.renewed_to(on)
    charged = quote("seat", price, "USD", charged_sub, on)
    assert charged == quoted

    period = _brute_force_period(start, interval, first, on)
    remaining = (period.end - max(on, period.start)).days
    expected = (price * remaining * 2 + period.days) // (2 * period.days)  # half up, in integers
    assert (quoted.period_start, quoted.period_end, quoted.days_remaining, quoted.amount_cents) == (
        period.start, period.end, remaining, expected)


@pytest.mark.parametrize("interval", [M, Y])
def test_renewals_are_consecutive_and_never_empty(interval):
    sub = plan(date(2027, 1, 31), date(2027, 2, 28), interval)
    renewed, renewals = sub.renewed_to(date(2031, 1, 1))
    ends = [sub.period_end] + [r.period.end for r in renewals]
    assert all(r.period.start == e for r, e in zip(renewals, ends, strict=False))
    assert all(r.period.days > 0 for r in renewals)
    assert renewed.period_end > date(2031, 1, 1) >= renewed.period_start


def test_on_a_yearly_plan_a_monthly_item_costs_twelve_months_a_period():
    from crm_seats.domain.prices import PriceList, unit_price

    import calendar

    leap = date.today().year + 1
    while not calendar.isleap(leap):  # the next leap year: its year from March 1 before has 366 days
        leap += 1
    prices = PriceList.of({}, "USD")
    yearly = plan(date(leap - 1, 3, 1), date(leap, 3, 1), interval=Y)
    monthly = plan(date(leap - 1, 3, 1), date(leap - 1, 4, 1))
    assert unit_price("addon:ai_assistant", yearly, prices) == (12 * 2500, "USD")
    assert unit_price("addon:ai_assistant", monthly, prices) == (2500, "USD")
    assert unit_price("seat", yearly, prices) == (4900, "USD")  # a seat's price is the plan's, per period
    # Bought with 100 of the year's 366 days left: 30000 × 100 / 366 = 8196.72, not a month's 2500 × 100 / 366.
    price, _ = unit_price("addon:ai_assistant", yearly, prices)
    assert cost(yearly, date(leap, 3, 1) - timedelta(days=100), price=price)[:3] == (8197, 100, 366)
