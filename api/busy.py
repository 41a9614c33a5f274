"""The busy window: the scheduled hours in which MEMO Manager's calls are refused (503).

Pure and Prefect-free. The window is wall-clock time in the configured zone:
``start`` ('HH:MM') plus ``hours``, wrapping past midnight (22:00 + 4 h covers
22:00–02:00). On a daylight-saving day it therefore lasts an hour more or less
in real time, but always covers the same clock times as the nightly cron
schedule, which is also wall-clock time in that zone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

DAY_MINUTES = 24 * 60


def parse_hhmm(start: str) -> int:
    """'02:00' → minutes after midnight (120). ValueError for anything else."""
    parsed = dt.datetime.strptime(start.strip(), "%H:%M")
    return parsed.hour * 60 + parsed.minute


def in_busy_window(now: dt.datetime, start: str, hours: float, zone: ZoneInfo | None = None) -> bool:
    """Is ``now`` inside the window that starts daily at ``start`` and lasts ``hours``?

    ``now`` is a local wall time; an aware ``now`` is first converted to ``zone``
    when one is given. ``hours`` ≤ 0 means never busy, ≥ 24 means always busy.
    The start is inclusive, the end exclusive.
    """
    if hours <= 0:
        return False
    if hours >= 24:
        return True
    if zone is not None and now.tzinfo is not None:
        now = now.astimezone(zone)
    minute_of_day = now.hour * 60 + now.minute + (now.second + now.microsecond / 1e6) / 60
    since_start = (minute_of_day - parse_hhmm(start)) % DAY_MINUTES
    return since_start < hours * 60

