"""Which tasks are due on a night: MEMO's rules, as pure functions.

A task is due on day D when it is active, started (``start_date <= D``) and its
frequency matches: ``D`` every day; ``W`` when the days since the start are a
multiple of 7; ``M`` on the start's day of the month (a start on the 31st skips
shorter months — no clamping, as MEMO always did); ``Y`` on the start's month
and day (a 29 February start runs in leap years only).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable

from memo.models import FREQUENCIES, Task


@dataclass(frozen=True)
class Selection:
    """The night's due tasks, and the rows that could not be judged (reported, never run)."""

    on: dt.date
    due: list[Task] = field(default_factory=list)
    malformed: list[tuple[Task, str]] = field(default_factory=list)


def is_due(task: Task, on: dt.date) -> bool:
    """Whether a well-formed task runs on ``on``; see ``frequency_problem`` for the rest."""
    if not task.is_active or task.start_date is None or task.start_date > on:
        return False
    start = task.start_date
    match task.frequency:
        case "D":
            return True
        case "W":
            return (on - start).days % 7 == 0
        case "M":
            return on.day == start.day
        case "Y":
            return (on.month, on.day) == (start.month, start.day)
    return False


def frequency_problem(task: Task) -> str | None:
    """Why an active task's schedule cannot be read, or None when it can."""
    if task.start_date is None:
        return "the task has no start date"
    if task.frequency not in FREQUENCIES:
        return f"unknown frequency {task.frequency!r} (expected one of D, W, M, Y)"
    return None


def select_due_tasks(tasks: Iterable[Task], on: dt.date) -> Selection:
    """Split the tasks into those due on ``on`` and the active ones too malformed to judge.

    Args:
        tasks: the candidate rows (``MemoDatabase.candidate_tasks``); inactive ones are left out.
        on: the night's date.

    Returns:
        The due tasks in the given order, and the malformed ones each with its problem.
    """
    selection = Selection(on=on)
    for task in tasks:
        if not task.is_active:
            continue
        problem = frequency_problem(task)
        if problem:
            selection.malformed.append((task, problem))
        elif is_due(task, on):
            selection.due.append(task)
    return selection
