"""Billing periods for the demo, the bench, chaos and the tests, derived from today so that they
never age into the past: the calendar month containing today, or one some months back."""

from __future__ import annotations

from datetime import UTC, date, datetime


def today() -> date:
    return datetime.now(UTC).date()


def month_start(day: date, months: int = 0) -> date:
    """The first day of the month `months` away from `day`'s (negative: back)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def this_month(day: date | None = None) -> tuple[date, date]:
    """The calendar month containing `day` (today by default), as a half-open period."""
    day = day or today()
    return month_start(day), month_start(day, 1)


def period_args(day: date | None = None) -> dict[str, str]:
    """`period_start`/`period_end` of `seats.subscription.set` for the month containing `day`."""
    start, end = this_month(day)
    return {"period_start": start.isoformat(), "period_end": end.isoformat()}
