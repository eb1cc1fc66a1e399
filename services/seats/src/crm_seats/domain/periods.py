"""Billing periods that renew from an anchor, the way a billing cycle anchor works.

A subscription is set with its first period [period_start, period_end) and an interval (`month`
or `year`). The anchor is the first period's start; every later period starts on a boundary
`anchor + k intervals` (calendar months or years, the day clamped to the month's length, so an
anchor on the 31st falls on Feb 28 — or 29 — and Apr 30, and comes back to the 31st in May).
When the first period does not end on a boundary, the second runs from its end to the next
boundary after it. Periods are half-open: the end day belongs to the next period.

Worked example, anchor 2027-01-31, monthly: 01-31..02-28, 02-28..03-31, 03-31..04-30, 04-30..05-31.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from crm_contracts.seats import Interval

MONTHS = {Interval.MONTH: 1, Interval.YEAR: 12}


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def __contains__(self, day: date) -> bool:
        return self.start <= day < self.end


def add_months(anchor: date, months: int) -> date:
    """`anchor` moved by whole calendar months, its day clamped to the target month's last day."""
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def boundary_after(anchor: date, interval: Interval, day: date) -> date:
    """The first boundary `anchor + k intervals` (k >= 0) strictly after `day`."""
    step = MONTHS[interval]
    # An estimate of k from the months between them, corrected by at most a step either way.
    k = max(0, ((day.year - anchor.year) * 12 + day.month - anchor.month) // step)
    while k > 0 and add_months(anchor, k * step) > day:
        k -= 1
    while add_months(anchor, k * step) <= day:
        k += 1
    return add_months(anchor, k * step)


def next_period(anchor: date, interval: Interval, current: Period) -> Period:
    """The period after `current`: from its end to the next boundary."""
    return Period(current.end, boundary_after(anchor, interval, current.end))


def periods_until(anchor: date, interval: Interval, current: Period, day: date) -> list[Period]:
    """Every period entered after `current` up to the one containing `day` (empty when `day` is
    still in `current`, or before it)."""
    entered: list[Period] = []
    while day >= current.end:
        current = next_period(anchor, interval, current)
        entered.append(current)
    return entered


def period_containing(anchor: date, interval: Interval, current: Period, day: date) -> Period:
    """The period a purchase on `day` falls in. A day before `current` (clocks that disagree, a
    subscription set ahead of time) is priced in `current`, as if bought on its first day."""
    later = periods_until(anchor, interval, current, day)
    return later[-1] if later else current
