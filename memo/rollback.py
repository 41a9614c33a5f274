"""``history`` and ``rollback``: a task's kept exports, and putting one back.

The files are ``memo.export_history``'s; this is the task's side: which export a task id
names, the task's lock (a rollback never races a run of the same task), and the runlog
row that tells MEMO Manager's users what happened to the file.
"""

from __future__ import annotations

import time

from memo.database import MemoDatabase
from memo.export_history import ExportVersion, history_dir, list_versions, restore
from memo.exports import export_target
from memo.locks import task_lock
from memo.models import RunOutcome, Task
from memo.settings import Settings


def task_history(settings: Settings, task_id: str) -> list[ExportVersion]:
    """The task's current export and its kept versions, newest first.

    Args:
        settings: the settings in force (the database, the exports folder).
        task_id: the ``task.id`` whose export it is.

    Returns:
        The versions, the current export first when there is one (``[]`` when none).

    Raises:
        TaskNotFound, TaskInvalid: no such task, or a name that cannot be an export.
        DatabaseError: the task could not be read.
    """
    task = _task(settings, task_id)
    return list_versions(*_paths(settings, task))


def roll_back(settings: Settings, task_id: str, version: str | None = None) -> RunOutcome:
    """Put a kept version back as the task's export (the newest when ``version`` is None), keep
    the one it replaces, and write a runlog row saying so.

    Args:
        settings: the settings in force (the database, the exports and work folders).
        task_id: the ``task.id`` whose export is put back.
        version: the kept version to put back (``ExportVersion.version``); ``None``: the newest.

    Returns:
        The outcome written to the runlog: success, "Rolled back to the export of <date>".

    Raises:
        TaskNotFound, TaskInvalid: no such task, or no such kept version.
        TaskBusy: a run of the task holds its lock.
        ExportWriteError: the files could not be moved (the export as it was).
        DatabaseError: the task or the runlog row could not be read or written.
    """
    from memo.runner import now_local

    started, clock = now_local(settings), time.monotonic()
    db = MemoDatabase(settings.database_url)
    try:
        task = db.load_task(task_id).task
        current, folder = _paths(settings, task)
        with task_lock(settings.work_dir, task.id, wait=0):
            restored = restore(current, folder, version)
        written = restored.date.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M:%S")
        outcome = RunOutcome(
            task.id, True, f"Rolled back to the export of {written} (version {restored.version})",
            started, time.monotonic() - clock, restored.bytes, label=task.label, export_path=str(current),
        )
        db.write_runlog(outcome)
        return outcome
    finally:
        db.dispose()


def _task(settings: Settings, task_id: str) -> Task:
    db = MemoDatabase(settings.database_url)
    try:
        return db.load_task(task_id).task
    finally:
        db.dispose()


def _paths(settings: Settings, task: Task):
    current = export_target(settings.exports_dir, task.username, task.file_name, dry_run=False)
    return current, history_dir(settings.exports_dir, task.username, task.file_name)
