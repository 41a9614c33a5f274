"""One run of one MEMO task, from its database row to its export and runlog row.

    load → check the row → resolve library imports → guard every script →
    build the tree → run it in the sandbox → commit the export → runlog

Every step before the sandbox refuses bad input before anything executes; the
export is replaced only when the script exits 0; every non-dry run leaves one
``runlog`` row, success or failure. No Prefect here: the flows call ``run_task``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from memo.database import MemoDatabase
from memo.display import without_controls
from memo.dependencies import LibraryLookup, resolve_dependencies
from memo.errors import (
    DatabaseError,
    GuardRefused,
    MemoError,
    OutcomeKind,
    RunnerStopping,
    RunStopped,
    SandboxUnavailable,
    ScriptFailed,
    ScriptTimeout,
    TaskInvalid,
)
from memo.export_history import history_dir
from memo.exports import ExportFile, export_target
from memo.locks import task_lock
from memo.models import Dependencies, RunOutcome, TaskSpec
from memo.sandbox import Sandbox, SandboxJob, make_sandbox
from memo.sandbox.base import TASK_ID_FIELD
from memo.settings import Settings
from memo.stopping import STOP
from memo.tree import ScriptTree, plan_tree, remove_orphan_trees, source_name

log = logging.getLogger("memo.runner")

TASK_ID = re.compile(r"[A-Za-z0-9-]{1,36}\Z")


@dataclass
class Runner:
    """What a run needs, built once per process (or per night) and shared by its runs."""

    settings: Settings
    db: MemoDatabase | None = None
    sandbox: Sandbox | None = None
    policy: object | None = None
    runtime_policy: dict | None = field(default=None, repr=False)
    """What the launcher enforces in every run; by default ``guard.runtime.runtime_policy(policy)``
    (tests of the run-time layer alone pass it with a static policy that refuses nothing)."""
    _library: LibraryLookup | None = field(default=None, repr=False)
    _sniplet_reports: dict = field(default_factory=dict, repr=False)
    script_slots: threading.BoundedSemaphore = field(init=False, repr=False)
    """At most ``MEMO_CONCURRENCY`` scripts run at once, however many threads call
    ``run_task``: more threads only prepare (row, guard, tree) and record (export,
    runlog, the caller's bookkeeping) around the scripts running in the slots."""

    def __post_init__(self) -> None:
        self.script_slots = threading.BoundedSemaphore(self.settings.concurrency)
        if self.db is None:
            self.db = MemoDatabase(self.settings.database_url)
        if self.sandbox is None:
            self.sandbox = make_sandbox(self.settings)
        if self.policy is None:
            from guard import default_policy, load_policy

            path = self.settings.guard_policy
            self.policy = load_policy(path) if path else default_policy()
        if self.runtime_policy is None:
            from guard.runtime import runtime_policy

            self.runtime_policy = runtime_policy(self.policy)

    def library(self) -> LibraryLookup:
        """Library lookups, cached for this runner's lifetime (a night, or one request)."""
        if self._library is None:
            self._library = self.db.library()
        return self._library

    def remove_orphans(self) -> dict[str, int]:
        """Clean what crashed runs left: script trees, partial exports, containers.

        Returns:
            How many of each were removed: ``{"trees", "partial_exports", "containers"}``.
        """
        from memo.exports import remove_orphan_partials

        return {
            "trees": remove_orphan_trees(self.settings.work_dir),
            "partial_exports": remove_orphan_partials(self.settings.exports_dir),
            "containers": self.sandbox.remove_orphans(),
        }

    def run_task(self, task_id: str, *, dry_run: bool = False, lock_wait: float | None = None,
                 spec: TaskSpec | None = None, on_loaded: Callable[[str], None] | None = None,
                 on_script_start: Callable[[], None] | None = None) -> RunOutcome:
        """Run one task now. Never raises for a task's own failure: the outcome says it.

        Args:
            task_id: the ``task.id`` of the row to run.
            dry_run: write to ``<exports>/tmp`` and add no runlog row.
            lock_wait: seconds to wait for the task's host-wide lock; 0 answers busy at once,
                ``None`` waits as long as it takes.
            spec: the task's row, if the caller has read it already (``load_task``): not read again.
            on_loaded: called with the task's label (``<username>/<file_name>``) once its row
                is read and the task's lock is held, before anything runs (the HTTP app's record
                begins there: a busy task asks nothing of Prefect).
            on_script_start: called once the task holds a script slot, just before its script
                starts (a night lets the next task prepare).

        Returns:
            The run's ``RunOutcome``, success or failure, its ``kind`` saying which.

        Raises:
            DatabaseError: only when the outcome could not be recorded (the runlog row).
        """
        started = now_local(self.settings)
        clock = time.monotonic()
        label = task_id
        try:
            if not TASK_ID.match(task_id):
                raise TaskInvalid(f"{task_id!r} is not a MEMO task id")
            _refuse_when_stopping()
            if spec is None or spec.task.id != task_id:
                spec = self.db.load_task(task_id)
            label = spec.task.label
            with task_lock(self.settings.work_dir, task_id, wait=lock_wait):
                if on_loaded is not None:
                    on_loaded(label)
                export = self._run(spec, dry_run=dry_run, on_script_start=on_script_start)
            outcome = RunOutcome(
                task_id, True, "OK", started, time.monotonic() - clock, export.size,
                dry_run=dry_run, label=label, export_path=str(export.path),
                previous_bytes=export.previous_size, warning=export.warning,
            )
        except MemoError as exc:
            outcome = RunOutcome(  # a message may name a row's script or hold a script's stderr
                task_id, False, without_controls(exc.message, keep_newlines=True), started, time.monotonic() - clock,
                kind=exc.kind, dry_run=dry_run, label=label,
            )
        level = logging.INFO if outcome.success else logging.ERROR
        # one line: the message may hold a script's stderr, whose lines would pass for the runner's own
        log.log(level, "%s%s %s in %.2fs: %s", label, " (dry run)" if dry_run else "",
                "succeeded" if outcome.success else "failed", outcome.duration, without_controls(outcome.message),
                extra={TASK_ID_FIELD: task_id})
        if not dry_run and outcome.kind.recorded and TASK_ID.match(task_id):
            self._record(outcome)
        return outcome

    def _record(self, outcome: RunOutcome) -> None:
        try:
            self.db.write_runlog(outcome)
        except DatabaseError as exc:
            if outcome.kind == exc.kind == OutcomeKind.DATABASE_REFUSED:  # the same refusal twice: say it once
                log.error("runlog NOT written for %s either", outcome.label)
                raise type(exc)(f"{outcome.label}: {outcome.message}; the runlog row was not written either") from None
            log.error("runlog NOT written for %s (%s): %s", outcome.label, outcome.message, exc.message)
            raise type(exc)(  # DatabaseRefused stays permanent (not retried)
                f"{outcome.label}: run {'succeeded' if outcome.success else 'failed'} "
                f"({outcome.message}) but the runlog row was not written: {exc.message}"
            ) from None

    def _run(self, spec: TaskSpec, *, dry_run: bool, on_script_start=None) -> "SavedExport":
        check_task_row(spec)
        task, exports = spec.task, self.settings.exports_dir
        target = export_target(exports, task.username, task.file_name, dry_run=dry_run)
        live = export_target(exports, task.username, task.file_name, dry_run=False)
        deps = resolve_dependencies(spec, self.library())
        self._guard(spec, deps)
        files = plan_tree(spec, deps)
        with ScriptTree(self.settings.work_dir, files, purge=self.settings.purge_work_dir) as tree:
            job = SandboxJob(
                tree=tree,
                timeout=self.settings.task_timeout,
                name=f"memo-{spec.task.id[:36]}-{tree.name[-8:]}",
                labels={"task-id": spec.task.id, "task": spec.task.label, "dry-run": str(dry_run).lower()},
                runtime_policy=self.runtime_policy,
                guard_nonce=secrets.token_hex(8),
            )
            with ExportFile(exports, target, self.settings.export_rules, compared_with=live,
                            history=None if dry_run else history_dir(exports, task.username, task.file_name)
                            ) as export:
                with self.script_slots:
                    _refuse_when_stopping()  # it may have waited for its slot
                    if on_script_start is not None:
                        on_script_start()
                    result = self.sandbox.run(job, export.file)
                if STOP.abandoned and not result.ok:
                    raise RunStopped(
                        f"Stopped after {result.duration:.1f} s: {STOP.reason}; the export was not replaced"
                    )
                _refuse_at_run_time(result, spec, deps, job.guard_nonce)
                if result.timed_out:
                    raise ScriptTimeout(
                        f"Script timed out after {self.settings.task_timeout:g} s and was stopped"
                        + _tail(result.stderr_tail, self.settings.stderr_tail)
                    )
                if result.exit_code != 0:
                    detail = f" ({result.detail})" if result.detail else ""
                    raise ScriptFailed(
                        f"Script exited with code {result.exit_code}{detail}"
                        + _tail(result.stderr_tail, self.settings.stderr_tail)
                    )
                size = export.commit()
        warning = export.shrink_warning(size)
        if warning:
            log.warning("%s: %s", task.label, warning)
        return SavedExport(target, size, export.previous_size, warning)

    def _guard(self, spec: TaskSpec, deps: Dependencies) -> None:
        from guard import check_source, refusal_message

        reports = [check_source(spec.script.body, name=spec.script.name, policy=self.policy)]
        for sniplet in deps.sniplets.values():  # the same sniplets serve many tasks of a night
            key = (sniplet.name, sniplet.body)
            report = self._sniplet_reports.get(key)
            if report is None:
                report = self._sniplet_reports[key] = check_source(sniplet.body, name=sniplet.name,
                                                                   policy=self.policy)
            reports.append(report)
        message = refusal_message(reports)
        if message:
            raise GuardRefused(message)


def _refuse_when_stopping() -> None:
    if STOP.begun:
        raise RunnerStopping(f"Not run: {STOP.reason}")


def check_task_row(spec: TaskSpec) -> None:
    """Refuse a row that cannot run, before anything is written or executed."""
    task = spec.task
    if spec.script is None:
        raise TaskInvalid(f"Task {task.label} has no script (it may have been deleted)")
    if spec.script.type not in (None, "MAIN"):
        raise TaskInvalid(
            f"Task {task.label} points at script '{spec.script.name}' of type {spec.script.type}, not MAIN")
    if spec.script.body is None or not spec.script.body.strip():
        raise TaskInvalid(f"Script '{spec.script.name}' has no body")
    if "\x00" in spec.script.body:
        raise TaskInvalid(f"Script '{spec.script.name}' contains a NUL character")


def _refuse_at_run_time(result, spec: TaskSpec, deps: Dependencies, nonce: str) -> None:
    """Raise ``GuardRefused`` with MEMO's message when the launcher stopped the script, and
    ``SandboxUnavailable`` when it could not set itself up in the image."""
    from guard.runtime import parse_refusal, parse_unavailable, runtime_refusal_message

    unavailable = parse_unavailable(result.exit_code, result.stderr_tail, nonce)
    if unavailable is not None:
        raise SandboxUnavailable(unavailable)
    refusal = parse_refusal(result.exit_code, result.stderr_tail, nonce)
    if refusal is not None:
        name = source_name(refusal.file, spec, deps) or spec.script.name
        raise GuardRefused(runtime_refusal_message([(name, refusal)]))


def _tail(stderr: str, limit: int) -> str:
    if not stderr:
        return ""
    if len(stderr) > limit:
        stderr = "…" + stderr[-limit:]
    return f": {stderr}"


@dataclass(frozen=True)
class SavedExport:
    """What a successful run left: the file, its size, the size of the one it replaced."""

    path: Path
    size: int
    previous_size: int | None
    warning: str | None


def now_local(settings: Settings) -> dt.datetime:
    """Local wall time in the configured zone, naive, as MEMO's runlog and TaskResult show it.

    Args:
        settings: the settings in force; their ``zone`` is the configured one.

    Returns:
        The time now, without ``tzinfo``.
    """
    return dt.datetime.now(settings.zone).replace(tzinfo=None)


def run_task(task_id: str, settings: Settings, *, dry_run: bool = False, **kwargs) -> RunOutcome:
    """Convenience for one-off runs (CLI, tests): a fresh ``Runner`` for one task."""
    return Runner(settings).run_task(task_id, dry_run=dry_run, **kwargs)
