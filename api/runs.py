"""How the HTTP API runs one task: recorded by Prefect as a ``memo-task`` flow run, or directly.

Both are a ``RunFn``: ``run(task_id, dry_run=..., lock_wait=...) -> RunOutcome``, called in a
worker thread. ``lock_wait`` is handed to the runner's host-wide flock: 0 means "answer
busy at once if this task is running anywhere on the host". Either way the task runs once,
on ``memo.runner.Runner.run_task``; ``prefect`` (``serve``'s default, ``MEMO_HTTP_VIA``) also
records it in Prefect (``flows.recorded``), ``direct`` does not.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Protocol

from memo.models import RunOutcome
from memo.runner import Runner
from memo.settings import Settings

VIA_CHOICES = ("prefect", "direct")


class RunFn(Protocol):
    def __call__(self, task_id: str, *, dry_run: bool, lock_wait: float | None) -> RunOutcome: ...


class DirectRuns:
    """Runs on the ``Runner``, no Prefect. The database engine, sandbox and guard policy are
    shared by all runs of the process; each run gets a fresh ``Runner`` on them, so its
    library lookups are never stale between requests."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._base: Runner | None = None
        self._lock = threading.Lock()

    def runner(self) -> Runner:
        with self._lock:
            if self._base is None:
                self._base = Runner(self.settings)
        base = self._base
        return Runner(self.settings, db=base.db, sandbox=base.sandbox, policy=base.policy,
                      runtime_policy=base.runtime_policy)

    def __call__(self, task_id: str, *, dry_run: bool, lock_wait: float | None) -> RunOutcome:
        return self.runner().run_task(task_id, dry_run=dry_run, lock_wait=lock_wait)

    def close(self, timeout: float = 1.5) -> None:
        """Release the database pool (``PrefectRuns``: after the last records, ``timeout`` at most;
        the app's lifespan calls it once the runs in flight have ended)."""
        if self._base is not None:
            self._base.db.dispose()


class PrefectRuns(DirectRuns):
    """Each run also recorded as a ``memo-task`` flow run (``flows.recorded``), visible in the
    Prefect UI with its logs and artifact. Needs ``PREFECT_API_URL`` (else a temporary server
    starts). Until ``api_ready`` is set (``serve`` is still starting Prefect's temporary
    server) runs go unrecorded; once it is, the recorder is made and first marks Crashed the
    runs that killed processes of this host left Running (``FlowRunRecorder.mark_abandoned``).
    Without ``api_ready`` that happens at the first run."""

    def __init__(self, settings: Settings, api_ready: threading.Event | None = None):
        super().__init__(settings)
        self.api_ready = api_ready
        self._recorder = None  # flows.recorded.FlowRunRecorder, made once Prefect answers or on first use
        if api_ready is not None:
            threading.Thread(target=self._recorder_when_ready, name="memo-record-start", daemon=True).start()

    def _recorder_when_ready(self) -> None:
        self.api_ready.wait()
        self.recorder()

    def __call__(self, task_id: str, *, dry_run: bool, lock_wait: float | None) -> RunOutcome:
        runner = self.runner()
        if self.api_ready is not None and not self.api_ready.is_set():
            logging.getLogger("memo.api").warning(
                "Prefect's temporary server is still starting: task %s runs unrecorded", task_id)
            return runner.run_task(task_id, dry_run=dry_run, lock_wait=lock_wait)
        return self.recorder().record(runner, task_id, dry_run=dry_run, lock_wait=lock_wait)

    def recorder(self):
        with self._lock:
            if self._recorder is None:
                from flows.recorded import FlowRunRecorder

                self._recorder = FlowRunRecorder()
                self._recorder.mark_abandoned()  # before its first record, on its thread
            return self._recorder

    def close(self, timeout: float = 1.5) -> None:
        if self._recorder is not None:
            self._recorder.close(timeout)
        super().close(timeout)


def default_via(settings: Settings) -> str:
    """``MEMO_HTTP_VIA`` (``settings.http_via``): ``prefect`` unless set otherwise."""
    return settings.http_via


def make_run(settings: Settings, via: str | None = None, *,
             api_ready: threading.Event | None = None) -> Callable[..., RunOutcome]:
    """The ``RunFn`` of the HTTP app.

    Args:
        settings: the process's settings.
        via: ``prefect`` or ``direct``; default ``MEMO_HTTP_VIA``.
        api_ready: set once Prefect's API answers (see ``PrefectRuns``).

    Raises:
        ValueError: an unknown ``via``.
    """
    via = via or default_via(settings)
    if via == "direct":
        return DirectRuns(settings)
    if via == "prefect":
        return PrefectRuns(settings, api_ready)
    raise ValueError(f"unknown way to run tasks: {via!r} (expected one of {', '.join(VIA_CHOICES)})")
