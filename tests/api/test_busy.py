"""The busy window as a pure function: plain hours, midnight wrap, 0 and 24 hours, DST days."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from api.busy import in_busy_window

AMS = ZoneInfo("Europe/Amsterdam")
UTC = dt.timezone.utc


def at(hhmm: str, day: dt.date = dt.date(2024, 6, 1)) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmm))


@pytest.mark.parametrize("now, busy", [
    ("01:59", False), ("02:00", True), ("03:30", True), ("05:59", True), ("06:00", False), ("14:00", False),
])
def test_plain_window_0200_for_4_hours(now, busy):
    assert in_busy_window(at(now), "02:00", 4) is busy


@pytest.mark.parametrize("now, busy", [
    ("21:59", False), ("22:00", True), ("23:30", True), ("00:00", True), ("01:30", True),
    ("01:59:59", True), ("02:00", False), ("02:30", False), ("12:00", False),
])
def test_window_wrapping_past_midnight(now, busy):
    assert in_busy_window(at(now), "22:00", 4) is busy


def test_seconds_and_fractional_hours():
    assert in_busy_window(at("23:59:59.999"), "23:00", 1)
    assert not in_busy_window(at("00:00"), "23:00", 1)
    assert in_busy_window(at("00:29"), "23:30", 1.5) and in_busy_window(at("00:59"), "23:30", 1.5)
    assert not in_busy_window(at("01:00"), "23:30", 1.5)


@pytest.mark.parametrize("now", ["00:00", "02:00", "05:00", "23:59"])
def test_zero_hours_is_never_and_24_is_always(now):
    assert not in_busy_window(at(now), "02:00", 0)
    assert in_busy_window(at(now), "02:00", 24)


def test_midnight_start():
    assert in_busy_window(at("00:00"), "00:00", 1) and not in_busy_window(at("23:59"), "00:00", 1)


def test_aware_times_are_read_in_the_zone():
    # 00:30 UTC is 02:30 in Amsterdam in summer: inside 02:00 + 4 h there, not in UTC.
    now = dt.datetime(2024, 6, 1, 0, 30, tzinfo=UTC)
    assert in_busy_window(now, "02:00", 4, AMS)
    assert not in_busy_window(now, "02:00", 4)  # no zone: the aware time's own wall clock


def test_dst_spring_forward_day():
    # 2024-03-31: Amsterdam jumps from 02:00 CET to 03:00 CEST; 02:00-06:00 wall clock lasts 3 real hours.
    assert not in_busy_window(dt.datetime(2024, 3, 31, 0, 59, tzinfo=UTC), "02:00", 4, AMS)  # 01:59 CET
    assert in_busy_window(dt.datetime(2024, 3, 31, 1, 0, tzinfo=UTC), "02:00", 4, AMS)  # 03:00 CEST
    assert in_busy_window(dt.datetime(2024, 3, 31, 3, 59, tzinfo=UTC), "02:00", 4, AMS)  # 05:59 CEST
    assert not in_busy_window(dt.datetime(2024, 3, 31, 4, 0, tzinfo=UTC), "02:00", 4, AMS)  # 06:00 CEST


def test_dst_fall_back_day_covers_the_repeated_hour():
    # 2024-10-27: 03:00 CEST becomes 02:00 CET; both 02:30s are inside, the window lasts 5 real hours.
    first = dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = dt.datetime(2024, 10, 27, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert first.astimezone(AMS).hour == second.astimezone(AMS).hour == 2
    assert in_busy_window(first, "02:00", 4, AMS) and in_busy_window(second, "02:00", 4, AMS)
    assert in_busy_window(dt.datetime(2024, 10, 27, 4, 59, tzinfo=UTC), "02:00", 4, AMS)  # 05:59 CET
    assert not in_busy_window(dt.datetime(2024, 10, 27, 5, 0, tzinfo=UTC), "02:00", 4, AMS)  # 06:00 CET


def test_dst_day_window_across_midnight():
    # 23:00 + 4 h on the night into the spring-forward: 23:00 CET .. 03:00 CEST wall clock.
    assert in_busy_window(dt.datetime(2024, 3, 30, 22, 0, tzinfo=UTC), "23:00", 4, AMS)  # 23:00 CET
    assert in_busy_window(dt.datetime(2024, 3, 31, 0, 59, tzinfo=UTC), "23:00", 4, AMS)  # 01:59 CET
    assert not in_busy_window(dt.datetime(2024, 3, 31, 1, 0, tzinfo=UTC), "23:00", 4, AMS)  # 03:00 CEST


def test_bad_start_is_an_error():
    with pytest.raises(ValueError):
        in_busy_window(at("02:00"), "2am", 4)
