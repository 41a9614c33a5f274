"""How the HTTP API starts one run: through Prefect (a ``memo-task`` flow run) or directly.

Both are a ``RunFn``: ``run(task_id, dry_run=..., lock_wait=...) -> RunOutcome``,
called in a worker thread. ``lock_wait`` is handed to the runner's host-wide
flock: 0 means "answer busy at once if this task is running anywhere on the host".

``serve`` uses ``prefect`` (the issue asks for every run to show in the Prefect
UI); tests and the load test may choose ``direct`` (the Runner, no Prefect).
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Protocol

from memo.models import RunOutcome
from memo.runner import Runner
from memo.settings import Settings

log = logging.getLogger("memo.api")

VIA_CHOICES = ("prefect", "direct")


class RunFn(Protocol):
    def __call__(self, task_id: str, *, dry_run: bool, lock_wait: float | None) -> RunOutcome: ...


class _SharedRunner:
    """Database engine, sandbox and guard policy shared by all runs of this process; each run
    gets a fresh ``Runner`` on them, so its library lookups are never stale between requests."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._base = None
        self._lock = threading.Lock()

    def runner(self) -> "_TrackedRunner":
        with self._lock:
            if self._base is None:
                self._base = _TrackedRunner(self.settings)
        base = self._base
        return _TrackedRunner(self.settings, db=base.db, sandbox=base.sandbox, policy=base.policy)

    def close(self) -> None:
        if self._base is not None:
            self._base.db.dispose()


class _TrackedRunner(Runner):
    """A Runner that remembers whether ``run_task`` was called and what it returned."""

    started = False
    outcome: RunOutcome | None = None

    def run_task(self, task_id: str, **options) -> RunOutcome:
        self.started = True
        self.outcome = super().run_task(task_id, **options)
        return self.outcome


class DirectRuns(_SharedRunner):
    """Runs on the ``Runner`` itself, no Prefect."""

    def __call__(self, task_id: str, *, dry_run: bool, lock_wait: float | None) -> RunOutcome:
        return self.runner().run_task(task_id, dry_run=dry_run, lock_wait=lock_wait)


class PrefectRuns(_SharedRunner):
    """Each run is a ``memo-task`` flow run in this process (``flows.task.run_memo_task``),
    visible in the Prefect UI. Needs ``PREFECT_API_URL`` (else a temporary server starts).

    MEMO Manager's answer matters more than the UI: when Prefect fails before the task
    started (its API down or overloaded: the flow run cannot be created), the task runs
    without Prefect and a warning is logged; when Prefect fails after the run, the run's
    own outcome is the answer. A task is never run twice.
    """

    def __init__(self, settings: Settings):
        super().__init__(settings)
        from flows.task import run_memo_task

        self._run = run_memo_task

    def __call__(self, task_id: str, *, dry_run: bool, lock_wait: float | None) -> RunOutcome:
        runner = self.runner()
        try:
            outcome = self._run(self.settings, task_id, dry_run, runner=runner, lock_wait=lock_wait)
            problem = None if runner.started else f"the flow run ended {outcome.message!r}"
        except Exception as exc:
            if runner.started and runner.outcome is None:
                raise  # the run itself raised: the caller answers 500 with it
            problem = f"{type(exc).__name__}: {exc}"
        if problem is None:
            return outcome
        if runner.started:
            log.warning("task %s ran, but Prefect failed to record it (%s)", task_id, problem)
            return runner.outcome
        log.warning("Prefect could not run task %s (%s): running it without Prefect", task_id, problem)
        return runner.run_task(task_id, dry_run=dry_run, lock_wait=lock_wait)


def default_via(settings: Settings) -> str:
    """``MEMO_HTTP_VIA`` (``settings.http_via``): ``prefect`` unless set otherwise."""
    return settings.http_via


def make_run(settings: Settings, via: str | None = None) -> Callable[..., RunOutcome]:
    via = via or default_via(settings)
    if via == "direct":
        return DirectRuns(settings)
    if via == "prefect":
        return PrefectRuns(settings)
    raise ValueError(f"unknown way to run tasks: {via!r} (expected one of {', '.join(VIA_CHOICES)})")
