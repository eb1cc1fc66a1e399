"""Business hours for claim timers: a step may say its timer counts only the hours the instance is
open (its own week and holidays, in its own time zone). Pure: local times become instants through
the time zone's rules, so a timer running across a daylight-saving change ends at the right wall
clock time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_contracts.common import Refused

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 400  # a timer that cannot end within this many days of opening hours is refused when set


class HoursError(Refused):
    """Business hours that cannot be used; answered with `routing.command.rejected`."""


@dataclass(frozen=True)
class BusinessHours:
    time_zone: str
    week: dict[str, tuple[tuple[time, time], ...]]
    holidays: frozenset[date]

    def as_json(self) -> dict[str, Any]:
        return {"time_zone": self.time_zone, "holidays": sorted(d.isoformat() for d in self.holidays),
                "week": {d: [[o.strftime("%H:%M"), c.strftime("%H:%M")] for o, c in self.week.get(d, ())]
                         for d in DAYS if self.week.get(d)}}


_HH_MM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def _clock(text: str) -> time:
    """Exactly "HH:MM": seconds would be lost when the hours are stored and read back."""
    if not isinstance(text, str) or not _HH_MM.fullmatch(text):
        raise ValueError(text)
    return time.fromisoformat(text)


def parse(time_zone: str, week: dict[str, list[list[str]]], holidays: list[str] | list[date]) -> BusinessHours:
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError("invalid_business_hours", f"unknown time zone {time_zone!r}") from None
    if unknown := sorted(set(week) - set(DAYS)):
        raise HoursError("invalid_business_hours", f"days are {', '.join(DAYS)}; not {', '.join(unknown)}")
    parsed: dict[str, tuple[tuple[time, time], ...]] = {}
    for day, spans in week.items():
        try:
            pairs = sorted((_clock(o), _clock(c)) for o, c in spans)
        except (ValueError, TypeError):
            raise HoursError("invalid_business_hours", f"week.{day}: spans are [\"HH:MM\", \"HH:MM\"]") from None
        for (o, c), nxt in zip(pairs, [*pairs[1:], None], strict=True):
            if o >= c:
                raise HoursError("invalid_business_hours", f"week.{day}: {o:%H:%M} is not before {c:%H:%M}")
            if nxt is not None and nxt[0] < c:
                raise HoursError("invalid_business_hours", f"week.{day}: spans overlap at {nxt[0]:%H:%M}")
        parsed[day] = tuple(pairs)
    if not any(parsed.values()):
        raise HoursError("invalid_business_hours", "a week with no open hours would never end a timer")
    return BusinessHours(time_zone, parsed, frozenset(d if isinstance(d, date) else date.fromisoformat(d)
                                                      for d in holidays))


def from_json(raw: dict[str, Any]) -> BusinessHours:
    return parse(raw["time_zone"], raw.get("week", {}), raw.get("holidays", []))


def due_at(start: datetime, seconds: float, hours: BusinessHours) -> datetime:
    """When `seconds` of open time have passed from `start` (an aware instant)."""
    zone = ZoneInfo(hours.time_zone)
    left = timedelta(seconds=seconds)
    start = start.astimezone(UTC)
    day = start.astimezone(zone).date()
    for _ in range(HORIZON_DAYS):
        if day not in hours.holidays:
            for opens, closes in hours.week.get(DAYS[day.weekday()], ()):
                begin = max(datetime.combine(day, opens, tzinfo=zone).astimezone(UTC), start)
                end = datetime.combine(day, closes, tzinfo=zone).astimezone(UTC)
                if begin >= end:
                    continue
                if left <= end - begin:
                    return begin + left
                left -= end - begin
        day += timedelta(days=1)
    raise HoursError("timer_beyond_business_hours", f"the timer would not end within {HORIZON_DAYS} days of opening hours")
