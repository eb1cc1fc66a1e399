"""Pro-rated charges for seats added inside a billing period.

The period runs from `period_start` (inclusive) to `period_end` (exclusive), so a November
period is 2026-11-01 .. 2026-12-01 and has 30 days. A seat added on day D is charged for the
days from D to the end of the period, D included: added on the first day it costs the full
unit price, added on the last day it costs one day. The amount is
unit_price × days_remaining / days_in_period, rounded half up to a whole cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Proration:
    amount_cents: int
    days_remaining: int
    days_in_period: int


def prorate(unit_price_cents: int, period_start: date, period_end: date, on: date) -> Proration:
    days_in_period = (period_end - period_start).days
    if days_in_period <= 0:
        raise ValueError("the billing period must be at least one day long")
    # Outside the period (billing has not renewed yet, or clocks disagree) clamp, never go negative.
    start = min(max(on, period_start), period_end)
    days_remaining = (period_end - start).days
    amount = (Decimal(unit_price_cents) * days_remaining / days_in_period).quantize(
        Decimal(1), rounding=ROUND_HALF_UP)
    return Proration(int(amount), days_remaining, days_in_period)
