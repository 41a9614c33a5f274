"""memo.catchup: cron previous-fire times and the catch-up decisions (pure, no Prefect)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from memo import catchup
from memo.catchup import Cron, decide_scheduled_run, last_scheduled_night, missed_night

AMS = ZoneInfo("Europe/Amsterdam")


def at(y, m, d, h=0, mi=0):
    return dt.datetime(y, m, d, h, mi, tzinfo=AMS)


@pytest.mark.parametrize("cron, now, expected", [
    ("0 2 * * *", at(2024, 5, 15, 3), at(2024, 5, 15, 2)),
    ("0 2 * * *", at(2024, 5, 15, 1, 59), at(2024, 5, 14, 2)),
    ("0 2 * * *", at(2024, 5, 15, 2, 0), at(2024, 5, 15, 2)),
    ("30 1,13 * * *", at(2024, 5, 15, 12), at(2024, 5, 15, 1, 30)),
    ("0 2 * * MON", at(2024, 5, 15, 12), at(2024, 5, 13, 2)),          # Wednesday → Monday
    ("0 2 * * 0", at(2024, 5, 15, 12), at(2024, 5, 12, 2)),            # Sunday as 0 …
    ("0 2 * * 7", at(2024, 5, 15, 12), at(2024, 5, 12, 2)),            # … and as 7
    ("0 2 31 * *", at(2024, 5, 15, 12), at(2024, 3, 31, 2)),           # no 31 April
    ("0 2 1 jan *", at(2024, 5, 15, 12), at(2024, 1, 1, 2)),
    ("*/15 2-3 * * *", at(2024, 5, 15, 3, 20), at(2024, 5, 15, 3, 15)),
    ("0 2 13 * 5", at(2024, 5, 15, 12), at(2024, 5, 13, 2)),           # day OR weekday (Vixie)
    ("30 2 * * *", at(2024, 3, 31, 12), at(2024, 3, 31, 2, 30)),       # 02:30 skipped by DST: 03:30 CEST
])
def test_previous_fire(cron, now, expected):
    assert Cron.parse(cron).previous_fire(now) == expected


def test_a_time_skipped_by_dst_fires_after_the_jump():
    fire = Cron.parse("30 2 * * *").previous_fire(at(2024, 3, 31, 12))
    assert fire.astimezone(dt.timezone.utc) == dt.datetime(2024, 3, 31, 1, 30, tzinfo=dt.timezone.utc)


def test_six_field_spring_cron_is_converted_by_settings_first():
    from memo.settings import cron_to_five_fields

    assert last_scheduled_night(cron_to_five_fields("0 0 2 * * ?"), at(2024, 5, 15, 9))[0] == dt.date(2024, 5, 15)


@pytest.mark.parametrize("bad", ["0 2 * *", "61 2 * * *", "0 2 * * 8", "0 5-2 * * *", "x 2 * * *"])
def test_bad_crons_are_refused(bad):
    with pytest.raises(ValueError):
        Cron.parse(bad)


def decide(night, scheduled_at, now, last_done=None, policy="once"):
    return decide_scheduled_run(night=night, scheduled_at=scheduled_at, now=now, cron="0 2 * * *",
                                last_done=last_done, policy=policy)


def test_on_time_run_runs():
    d = decide(dt.date(2024, 5, 15), at(2024, 5, 15, 2), at(2024, 5, 15, 2, 0), last_done=dt.date(2024, 5, 14))
    assert d.run and "on schedule" in d.reason


def test_already_run_night_is_skipped():
    d = decide(dt.date(2024, 5, 15), at(2024, 5, 15, 2), at(2024, 5, 15, 2, 1), last_done=dt.date(2024, 5, 15))
    assert not d.run and "already ran" in d.reason


@pytest.mark.parametrize("policy", ["once", "skip"])
def test_older_missed_nights_are_superseded(policy):
    # back at 09:00 on the 15th: the runs of the 13th and 14th are late; only the 15th counts
    now = at(2024, 5, 15, 9)
    for night in (dt.date(2024, 5, 13), dt.date(2024, 5, 14)):
        d = decide(night, at(night.year, night.month, night.day, 2), now, policy=policy)
        assert not d.run and "superseded" in d.reason


def test_the_last_missed_night_runs_once_or_is_skipped():
    now = at(2024, 5, 15, 9)
    once = decide(dt.date(2024, 5, 15), at(2024, 5, 15, 2), now, last_done=dt.date(2024, 5, 12))
    assert once.run and "catching up" in once.reason
    skip = decide(dt.date(2024, 5, 15), at(2024, 5, 15, 2), now, last_done=dt.date(2024, 5, 12), policy="skip")
    assert not skip.run and "catch-up: skip" in skip.reason


def test_missed_night_at_start_up():
    kw = dict(cron="0 2 * * *", policy="once")
    # down from the 13th to 09:00 on the 15th: the 15th is run once
    d = missed_night(now=at(2024, 5, 15, 9), last_done=dt.date(2024, 5, 12), **kw)
    assert d.run and d.night == dt.date(2024, 5, 15)
    assert missed_night(now=at(2024, 5, 15, 9), last_done=dt.date(2024, 5, 15), **kw) is None
    # within an hour of the fire time the scheduled run itself is expected
    assert missed_night(now=at(2024, 5, 15, 2, 30), last_done=dt.date(2024, 5, 14), **kw) is None
    # nothing recorded yet: a fresh install missed nothing
    assert missed_night(now=at(2024, 5, 15, 9), last_done=None, **kw) is None
    skip = missed_night(now=at(2024, 5, 15, 9), last_done=dt.date(2024, 5, 12), cron="0 2 * * *", policy="skip")
    assert skip is not None and not skip.run


def test_record_keeps_the_latest_night(tmp_path):
    assert catchup.read_last_night(tmp_path) is None
    catchup.record_night(tmp_path, dt.date(2024, 5, 15))
    catchup.record_night(tmp_path, dt.date(2024, 5, 1))  # a backfill does not move it back
    assert catchup.read_last_night(tmp_path) == dt.date(2024, 5, 15)
    catchup.state_path(tmp_path).write_text("garbage")
    assert catchup.read_last_night(tmp_path) is None
