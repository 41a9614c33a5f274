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
from memo.stopping import STOP

log = logging.getLogger("memo.api")

VIA_CHOICES = ("prefect", "direct")
FLOW_RUN_END_WAIT = 1.0
"""Seconds a stopping process waits for Prefect to record a run that has ended."""


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
    own outcome is the answer. A task is never run twice. Until ``api_ready`` is set (``serve``
    is still starting Prefect's temporary server) runs go without Prefect too.
    """

    def __init__(self, settings: Settings, api_ready: threading.Event | None = None):
        super().__init__(settings)
        self.api_ready = api_ready
        self._run = None  # flows.task.run_memo_task, imported on first use (Prefect takes seconds)

    def __call__(self, task_id: str, *, dry_run: bool, lock_wait: float | None) -> RunOutcome:
        runner = self.runner()
        if self.api_ready is not None and not self.api_ready.is_set():
            log.warning("Prefect's temporary server is still starting: running task %s without Prefect", task_id)
            return runner.run_task(task_id, dry_run=dry_run, lock_wait=lock_wait)
        if self._run is None:
            from flows.task import run_memo_task

            self._run = run_memo_task
        try:
            outcome = self._flow_run(runner, task_id, dry_run, lock_wait)
            problem = None if runner.started else f"the flow run ended {outcome.message!r}"
        except _NotWaiting:
            problem = f"not waiting for Prefect: {STOP.reason}"
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


    def _flow_run(self, runner: "_TrackedRunner", task_id: str, dry_run: bool, lock_wait: float | None):
        """The flow run, in a thread of its own: once the process is stopping (``memo.stopping``)
        and the run itself has ended (or never started), the answer does not wait for Prefect's
        bookkeeping: calls to a server that has gone are retried for minutes."""
        result: dict = {}

        def flow_run() -> None:
            try:
                result["outcome"] = self._run(self.settings, task_id, dry_run, runner=runner, lock_wait=lock_wait)
            except BaseException as exc:  # handed to the caller below
                result["error"] = exc

        thread = threading.Thread(target=flow_run, name=f"memo-flow-run-{task_id[:8]}", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(timeout=0.1)
            if thread.is_alive() and STOP.begun and (runner.outcome is not None or not runner.started):
                thread.join(timeout=FLOW_RUN_END_WAIT)  # a server that is up records it in ms
                if thread.is_alive():
                    raise _NotWaiting()
        if "error" in result:
            raise result["error"]
        return result["outcome"]


class _NotWaiting(Exception):
    """``PrefectRuns`` stopped waiting for a flow run (the process is stopping)."""


def default_via(settings: Settings) -> str:
    """``MEMO_HTTP_VIA`` (``settings.http_via``): ``prefect`` unless set otherwise."""
    return settings.http_via


def make_run(settings: Settings, via: str | None = None, *,
             api_ready: threading.Event | None = None) -> Callable[..., RunOutcome]:
    """``api_ready``: see ``PrefectRuns``."""
    via = via or default_via(settings)
    if via == "direct":
        return DirectRuns(settings)
    if via == "prefect":
        return PrefectRuns(settings, api_ready)
    raise ValueError(f"unknown way to run tasks: {via!r} (expected one of {', '.join(VIA_CHOICES)})")
