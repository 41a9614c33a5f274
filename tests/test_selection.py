"""MEMO's selection rules, one case per rule and per edge (pure, milliseconds)."""

import datetime as dt

import pytest

from memo.models import Task
from memo.selection import is_due, select_due_tasks

D = dt.date


def task(freq, start, active=True):
    return Task(id="t", username="abccorp", file_name="a.xml", frequency=freq, start_date=start, is_active=active)


@pytest.mark.parametrize(
    "freq,start,on,due",
    [
        ("D", D(2024, 1, 1), D(2024, 1, 1), True),
        ("D", D(2024, 1, 2), D(2024, 1, 1), False),  # not started yet
        ("W", D(2024, 1, 1), D(2024, 1, 8), True),
        ("W", D(2024, 1, 1), D(2024, 1, 9), False),
        ("W", D(2024, 1, 1), D(2024, 3, 4), True),  # 63 days, across February
        ("W", D(2024, 12, 30), D(2025, 1, 6), True),  # across a year end
        ("M", D(2024, 1, 15), D(2024, 2, 15), True),
        ("M", D(2024, 1, 15), D(2024, 2, 14), False),
        ("M", D(2024, 1, 31), D(2024, 2, 29), False),  # no clamping to month end
        ("M", D(2024, 1, 31), D(2024, 4, 30), False),
        ("M", D(2024, 1, 31), D(2024, 3, 31), True),
        ("Y", D(2023, 6, 1), D(2024, 6, 1), True),
        ("Y", D(2023, 6, 1), D(2024, 6, 2), False),
        ("Y", D(2020, 2, 29), D(2023, 2, 28), False),  # leap-day start: leap years only
        ("Y", D(2020, 2, 29), D(2023, 3, 1), False),
        ("Y", D(2020, 2, 29), D(2024, 2, 29), True),
        ("D", D(2024, 1, 1), D(2023, 12, 31), False),
    ],
)
def test_rules(freq, start, on, due):
    assert is_due(task(freq, start), on) is due


def test_start_day_itself_is_due_for_every_frequency():
    for freq in "DWMY":
        assert is_due(task(freq, D(2024, 5, 17)), D(2024, 5, 17))


def test_inactive_is_never_due():
    assert not is_due(task("D", D(2024, 1, 1), active=False), D(2024, 6, 1))


def test_malformed_rows_are_reported_not_run():
    rows = [task("D", D(2024, 1, 1)), task("X", D(2024, 1, 1)), task(None, D(2024, 1, 1)), task("D", None)]
    selection = select_due_tasks(rows, D(2024, 6, 1))
    assert len(selection.due) == 1
    reasons = [reason for _, reason in selection.malformed]
    assert any("unknown frequency 'X'" in r for r in reasons)
    assert any("unknown frequency None" in r for r in reasons)
    assert any("no start date" in r for r in reasons)


def test_a_year_of_nights_counts():
    """Over 2024 (a leap year): D 366 runs, W 53, M on the 31st 7, Y on 29 Feb 1."""
    days = [D(2024, 1, 1) + dt.timedelta(n) for n in range(366)]
    counts = {
        key: sum(is_due(t, d) for d in days)
        for key, t in {
            "D": task("D", D(2024, 1, 1)),
            "W": task("W", D(2024, 1, 1)),
            "M31": task("M", D(2023, 12, 31)),
            "Y29": task("Y", D(2020, 2, 29)),
        }.items()
    }
    assert counts == {"D": 366, "W": 53, "M31": 7, "Y29": 1}
