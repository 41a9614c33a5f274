"""Catch-up: which night to run after the host was down, as pure functions. No Prefect here.

The nightly flow records the last night it ran in ``<work_dir>/state/nightly.json``.
Two moments need a decision:

- a *scheduled* nightly run starts (Prefect's worker also picks up runs that
  became Late while the host was down, possibly several): ``decide_scheduled_run``
  lets only the most recent scheduled night run (``catch_up='once'``), or none
  that started late (``'skip'``), and never a night already recorded as run;
- ``serve`` starts: ``missed_night`` says whether the last scheduled night was
  missed and must be run now (``'once'``) or not (``'skip'``).

A manual ``memo-taskrunner nightly --date D`` is a deliberate backfill and always
runs. The schedule is a 5-field cron (``Settings.schedule_cron``) read in the
configured zone, as Prefect reads the deployment's schedule.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

LATE_AFTER = dt.timedelta(hours=1)
"""A scheduled run starting this long after its time counts as late (a missed night)."""

STATE_FILE = Path("state") / "nightly.json"

_NAMES = {
    3: {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)},
    4: {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())},
}
_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


@dataclass(frozen=True)
class Cron:
    """A parsed 5-field cron (minute hour day-of-month month day-of-week), Vixie semantics."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_restricted: bool
    weekday_restricted: bool

    @classmethod
    def parse(cls, expression: str) -> "Cron":
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"a cron needs 5 fields, got {len(fields)}: {expression!r}")
        sets = [_field(f, i) for i, f in enumerate(fields)]
        weekdays = frozenset(0 if d == 7 else d for d in sets[4])
        return cls(
            frozenset(sets[0]), frozenset(sets[1]), frozenset(sets[2]), frozenset(sets[3]), weekdays,
            day_restricted=not fields[2].startswith("*"),
            weekday_restricted=not fields[4].startswith("*"),
        )

    def day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return dom or dow
        return dom and dow

    def previous_fire(self, before: dt.datetime) -> dt.datetime | None:
        """The latest fire time at or before ``before`` (aware, in its zone), within ~5 years.

        A wall time skipped by a DST jump (02:30 on the spring-forward night) fires
        at the same instant as its pre-jump reading (03:30 summer time), like Prefect.
        """
        zone = before.tzinfo
        day = before.date()
        for _ in range(366 * 5):
            if self.day_matches(day):
                for hour in sorted(self.hours, reverse=True):
                    for minute in sorted(self.minutes, reverse=True):
                        fire = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)
                        if fire <= before:
                            return fire
            day -= dt.timedelta(days=1)
        return None


def _value(text: str, index: int) -> int:
    names = _NAMES.get(index, {})
    value = names.get(text.lower()) if text.lower() in names else int(text)
    low, high = _RANGES[index]
    if not low <= value <= high:
        raise ValueError(f"cron value {text!r} out of range {low}-{high}")
    return value


def _field(text: str, index: int) -> set[int]:
    low, high = _RANGES[index]
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step < 1:
                raise ValueError(f"bad cron step in {text!r}")
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, index), _value(b, index)
        else:
            start = _value(part, index)
            end = high if step > 1 else start
        if start > end:
            raise ValueError(f"bad cron range in {text!r}")
        values.update(range(start, end + 1, step))
    return values


@dataclass(frozen=True)
class Decision:
    run: bool
    night: dt.date
    reason: str


def last_scheduled_night(cron: str, now: dt.datetime) -> tuple[dt.date, dt.datetime] | None:
    """The night (local date) and time of the most recent scheduled fire at or before ``now``."""
    fire = Cron.parse(cron).previous_fire(now)
    return (fire.date(), fire) if fire else None


def decide_scheduled_run(
    *,
    night: dt.date,
    scheduled_at: dt.datetime,
    now: dt.datetime,
    cron: str,
    last_done: dt.date | None,
    policy: str,
    late_after: dt.timedelta = LATE_AFTER,
) -> Decision:
    """Whether a run the scheduler made for ``night`` should run now.

    ``scheduled_at`` and ``now`` are aware datetimes; ``now`` in the configured zone.

    Args:
        night: the night (local date) the run was scheduled for.
        scheduled_at: when the scheduler meant it to start.
        now: the time now, in the configured zone.
        cron: the schedule (``Settings.schedule_cron``).
        last_done: the last night recorded as run (``read_last_night``); ``None``: none yet.
        policy: ``MEMO_CATCH_UP``: ``"once"`` runs the most recent missed night, ``"skip"`` none.
        late_after: how long after ``scheduled_at`` a start counts as late (a missed night).

    Returns:
        Whether to run, the night, and the reason to log.

    Raises:
        ValueError: ``cron`` is not a 5-field cron (the settings validate it first).
    """
    if last_done is not None and last_done >= night:
        return Decision(False, night, f"night {night} already ran (last recorded night {last_done})")
    latest = last_scheduled_night(cron, now)
    if latest is not None and night < latest[0]:
        return Decision(False, night, f"night {night} was missed and is superseded by night {latest[0]}"
                        + (" (catch-up: once)" if policy == "once" else " (catch-up: skip)"))
    if now - scheduled_at > late_after:
        if policy == "skip":
            return Decision(False, night, f"night {night} was missed while the runner was down (catch-up: skip)")
        return Decision(True, night, f"catching up night {night}, missed while the runner was down")
    return Decision(True, night, f"night {night} on schedule")


def missed_night(
    *,
    now: dt.datetime,
    cron: str,
    last_done: dt.date | None,
    policy: str,
    late_after: dt.timedelta = LATE_AFTER,
) -> Decision | None:
    """At start-up: the last scheduled night if it was missed and should be run now, else None.

    Nothing is caught up when no night was ever recorded (a fresh install has
    missed nothing), nor within ``late_after`` of the fire time (the scheduled
    run itself is about to start or running).

    Args:
        now: the time now, in the configured zone.
        cron: the schedule (``Settings.schedule_cron``).
        last_done: the last night recorded as run (``read_last_night``); ``None``: none yet.
        policy: ``MEMO_CATCH_UP``: ``"once"`` runs the missed night, ``"skip"`` only says so.
        late_after: how long after its fire time a night counts as missed.

    Returns:
        ``None`` when nothing was missed; else the missed night with ``run`` false under
        ``"skip"``, and the reason to log.

    Raises:
        ValueError: ``cron`` is not a 5-field cron (the settings validate it first).
    """
    latest = last_scheduled_night(cron, now)
    if latest is None or last_done is None:
        return None
    night, fire = latest
    if last_done >= night or now - fire < late_after:
        return None
    if policy == "skip":
        return Decision(False, night, f"night {night} was missed while the runner was down (catch-up: skip)")
    return Decision(True, night, f"catching up night {night}, missed while the runner was down")


# -- the record of the last night run (a small JSON file under the work dir) ---------


def state_path(work_dir: os.PathLike | str) -> Path:
    return Path(work_dir) / STATE_FILE


def read_last_night(work_dir: os.PathLike | str) -> dt.date | None:
    """The last night recorded as run; a missing or unreadable record counts as none.

    Args:
        work_dir: the runner's work dir (``MEMO_WORK_DIR``), which holds ``state/nightly.json``.

    Returns:
        The night's date, or ``None``.
    """
    try:
        data = json.loads(state_path(work_dir).read_text(encoding="utf-8"))
        return dt.date.fromisoformat(data["night"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_night(work_dir: os.PathLike | str, night: dt.date, *, how: str = "ran",
                 now: dt.datetime | None = None) -> None:
    """Record ``night`` as done (never moves the record backwards: a backfill keeps it).

    Written to a temporary file and renamed over the record: a crash leaves the old one whole.

    Args:
        work_dir: the runner's work dir (``MEMO_WORK_DIR``).
        night: the night that ran.
        how: how it ran, kept in the record for operators (``"ran"``).
        now: the moment to record; ``None``: now (UTC).

    Raises:
        OSError: the record cannot be written (let through).
    """
    previous = read_last_night(work_dir)
    if previous is not None and previous >= night:
        return
    path = state_path(work_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    moment = (now or dt.datetime.now(dt.timezone.utc)).isoformat()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"night": night.isoformat(), "how": how, "at": moment}) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def zone_now(zone: ZoneInfo) -> dt.datetime:
    """The time now in ``zone``, as the catch-up decisions compare it.

    Args:
        zone: the configured zone (``Settings.zone``).

    Returns:
        An aware datetime.
    """
    return dt.datetime.now(zone)
