"""The bounded pool of run threads behind ``/runtask`` and ``/dryruntask``.

``settings.concurrency`` workers run the tasks outside the request: the request awaits its
run shielded, so a client that gives up does not stop it; it finishes, is written to
``runlog`` and is logged. The pool also knows which tasks run in this process (a second
request for one of them is answered 409 at once) and waits for them at shutdown.

Its own module because it is the one part of the API that owns threads and outlives a
request; ``api.app`` only routes, checks and answers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from fastapi import Request
from fastapi.responses import JSONResponse

from memo.errors import MemoError
from memo.models import RunOutcome

log = logging.getLogger("memo.api")

RunFn = Callable[..., RunOutcome]


class RunPool:
    """The bounded pool runs go to, and the set of tasks running in this process."""

    def __init__(self, run: RunFn, workers: int, *, lock_wait: float, zone):
        self.run = run
        self.lock_wait = lock_wait
        self.zone = zone
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="memo-run")
        self.running: dict[str, Future] = {}
        self._lock = threading.RLock()

    def submit(self, task_id: str, dry_run: bool) -> Future | None:
        """Start a run, or None when this task is already running in this process."""
        with self._lock:
            if task_id in self.running:
                return None
            future = self.executor.submit(self._run, task_id, dry_run)
            self.running[task_id] = future
        future.add_done_callback(lambda f: self._done(task_id, f))
        return future

    def _run(self, task_id: str, dry_run: bool) -> RunOutcome:
        return self.run(task_id, dry_run=dry_run, lock_wait=self.lock_wait)

    def _done(self, task_id: str, future: Future) -> None:
        with self._lock:
            if self.running.get(task_id) is future:
                del self.running[task_id]
        if future.cancelled():
            log.error("run of task %s was cancelled before it started", task_id)
        elif future.exception() is not None:
            exc = future.exception()
            log.error("run of task %s raised %s: %s", task_id, type(exc).__name__, exc,
                      exc_info=(type(exc), exc, exc.__traceback__))

    async def answer(self, request: Request, task_id: str, *, dry_run: bool) -> JSONResponse:
        """Run the task in the pool and answer the request with its TaskResult (409 if running)."""
        request.state.task = task_id
        future = self.submit(task_id, dry_run)
        if future is None:
            message = f"Task {task_id} is already running; try again when it has finished"
            request.state.outcome = message
            return JSONResponse(failure_result(task_id, message, self.zone), status_code=409)
        try:
            # shield: should the request be cancelled, the run (even a queued one) goes on.
            outcome: RunOutcome = await asyncio.shield(asyncio.wrap_future(future))
        except MemoError as exc:
            request.state.outcome = exc.message
            return JSONResponse(failure_result(task_id, exc.message, self.zone), status_code=500)
        except Exception as exc:  # noqa: BLE001 - never a bare traceback: MEMO Manager shows `message`
            message = f"Internal error: {type(exc).__name__}: {exc}"
            request.state.outcome = message
            return JSONResponse(failure_result(task_id, message, self.zone), status_code=500)
        request.state.outcome = outcome.message
        request.state.label = outcome.label
        request.state.kind = outcome.kind
        if await request.is_disconnected():
            request.state.client_gone = True
        return JSONResponse(outcome.task_result(), status_code=outcome.kind.http_status)

    def shutdown(self) -> None:
        """Wait for the runs in flight (their clients may have gone), then close ``run``."""
        with self._lock:
            pending = len(self.running)
        if pending:
            log.info("waiting for %d run(s) to finish before stopping", pending)
        self.executor.shutdown(wait=True)
        close = getattr(self.run, "close", None)
        if close:
            close()


def failure_result(task_id: str, message: str, zone) -> dict:
    """MEMO's TaskResult of a request answered without a run outcome (422, 409, 500)."""
    return {
        "idTask": task_id,
        "message": message,
        "dateTime": dt.datetime.now(zone).replace(tzinfo=None).isoformat(timespec="microseconds"),
        "output": None,
        "success": False,
    }
