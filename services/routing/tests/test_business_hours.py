"""Claim timers that count only business hours, across weekends, holidays and daylight-saving
changes. Dates are found from today, so the tests never age into the past."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_routing.domain.business_hours import HoursError, due_at, parse

NY = "America/New_York"
WEEKDAYS = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def next_weekday(start: date, weekday: int) -> date:
    return start + timedelta(days=(weekday - start.weekday()) % 7 or 7)


def local(day: date, at: str, zone: str = NY) -> datetime:
    return datetime.combine(day, time.fromisoformat(at), tzinfo=ZoneInfo(zone))


def test_a_friday_evening_lead_with_a_15_minute_timer_expires_monday_at_0915():
    friday = next_weekday(date.today(), 4)
    due = due_at(local(friday, "18:30"), 15 * 60, parse(NY, WEEKDAYS, []))
    assert due.astimezone(ZoneInfo(NY)) == local(friday + timedelta(days=3), "09:15")


def test_the_time_left_at_closing_carries_over_and_holidays_are_skipped():
    monday = next_weekday(date.today(), 0)
    hours = parse(NY, WEEKDAYS, [(monday + timedelta(days=1)).isoformat()])
    due = due_at(local(monday, "16:50"), 30 * 60, hours)  # 10 minutes Monday, Tuesday a holiday
    assert due.astimezone(ZoneInfo(NY)) == local(monday + timedelta(days=2), "09:20")
    lunch = parse(NY, {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}, [])
    assert due_at(local(monday, "11:50"), 20 * 60, lunch).astimezone(ZoneInfo(NY)) == local(monday, "13:10")


def _next_dst_change(zone: str) -> date:
    """The first day from today whose local midnight has a different UTC offset than the day before."""
    tz, day = ZoneInfo(zone), date.today()
    offset = datetime.combine(day, time(12), tzinfo=tz).utcoffset()
    for _ in range(400):
        day += timedelta(days=1)
        if datetime.combine(day, time(12), tzinfo=tz).utcoffset() != offset:
            return day
    raise AssertionError("no daylight-saving change within a year")


@pytest.mark.parametrize("zone", [NY, "Europe/Berlin"])
def test_a_timer_across_a_daylight_saving_change_ends_at_the_same_wall_clock_time(zone):
    changed = _next_dst_change(zone)  # the day clocks moved (a Sunday in both zones)
    friday = changed - timedelta(days=(changed.weekday() - 4) % 7)
    due = due_at(local(friday, "16:55", zone), 15 * 60, parse(zone, WEEKDAYS, []))
    tz = ZoneInfo(zone)
    assert due.astimezone(tz).replace(tzinfo=None) == datetime.combine(friday + timedelta(days=3), time(9, 10))
    assert due.astimezone(tz).utcoffset() != local(friday, "16:55", zone).utcoffset()
    # 15 minutes of business time, whatever the clocks did over the weekend: 5 on Friday, 10 on Monday.
    assert due - local(friday + timedelta(days=3), "09:00", zone) == timedelta(minutes=10)


@pytest.mark.parametrize(("zone", "week", "why"), [
    ("Mars/Olympus", WEEKDAYS, "unknown time zone"), (NY, {"funday": [["09:00", "10:00"]]}, "days are"),
    (NY, {"mon": [["10:00", "09:00"]]}, "is not before"), (NY, {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]},
                                                           "overlap"), (NY, {}, "no open hours"),
    # One strict format: what is set is what is read back, so nothing that HH:MM cannot hold.
    (NY, {"mon": [["09:00:10", "09:00:50"]]}, "HH:MM"), (NY, {"mon": [["9:00", "17:00"]]}, "HH:MM"),
    (NY, {"mon": [["09:00", "24:00"]]}, "HH:MM"), (NY, {"mon": [["09:00", "17:00", "18:00"]]}, "HH:MM")])
def test_hours_that_cannot_be_used_are_refused_with_the_reason(zone, week, why):
    with pytest.raises(HoursError) as err:
        parse(zone, week, [])
    assert err.value.reason == "invalid_business_hours" and why in err.value.message


def test_the_instant_is_utc_whatever_zone_it_was_given_in():
    monday = next_weekday(date.today(), 0)
    start = local(monday, "10:00").astimezone(ZoneInfo("Asia/Tokyo"))
    assert due_at(start, 60, parse(NY, WEEKDAYS, [])).tzinfo == UTC


@pytest.mark.parametrize("week", [WEEKDAYS, {"sat": [["00:00", "06:30"], ["07:15", "23:59"]]}])
def test_hours_read_back_exactly_as_they_were_set(week):
    holiday = (date.today() + timedelta(days=30)).isoformat()
    assert parse(NY, week, [holiday]).as_json() == {"time_zone": NY, "week": week, "holidays": [holiday]}
