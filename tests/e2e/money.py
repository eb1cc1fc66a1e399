"""Amounts worked out by the tests themselves, from dates they chose (never from the event under test)."""

from __future__ import annotations

from datetime import date

from crm_devstack import dates


def prorated(price_cents: int, start: date, end: date, on: date | None = None) -> int:
    """What a purchase on `on` (today) costs in the period start..end, worked out here and not by
    the service: price × days left (that day included) / days in the period, half up to the cent."""
    on = on or dates.today()
    left, days = (end - on).days, (end - start).days
    return (price_cents * left * 2 + days) // (2 * days)


def this_month_price(price_cents: int) -> int:
    """`prorated` in the calendar month containing today — the period `Platform.subscription` sets."""
    return prorated(price_cents, *dates.this_month())
