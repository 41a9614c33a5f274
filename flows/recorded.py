"""The HTTP app's runs: the task runs directly and Prefect records it as a ``memo-task`` flow run.

MEMO Manager waits for each answer, and Prefect's engine costs a flow run a dozen API
calls and a bookkeeping thread on a server that shares the cores with the scripts
(measured in BENCHMARKS.md, "HTTP API under load"). So the run itself is
``Runner.run_task`` in the caller's thread, and Prefect gets three calls around it:

1. once the task's row is read, a flow run of the ``memo-task`` deployment (of the flow,
   if nothing deployed it), named ``<client>/<file>`` (``dry-run <client>/<file>``), in
   state Running; the script's log lines go to it (``flows._support.RunLogBridge``);
2. when the run ends, its table artifact (key ``memo-task-<task id>``, the row the
   engine's runs leave) and
3. its final state, Completed or Failed with the reason: the UI shows it with the others,
   and the ``memo: HTTP task failed`` automation (``flows.notifications``) hears it.

MEMO Manager's answer matters more than the record. When Prefect cannot create the flow
run (down, overloaded, slower than ``CALL_WAIT``) the task runs unrecorded, a warning
says so, and Prefect is not asked again for ``BACKOFF`` seconds; a creation that comes
late still gets its end recorded. When recording the end fails, the run's own outcome is
the answer. A task never runs twice. While the process stops, no call to Prefect holds an
answer longer than ``STOP_WAIT``.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import json
import logging
import threading
import time
from typing import Any

from flows._support import log_bridge
from flows.notifications import emit_shrank
from flows.task import ARTIFACT_DESCRIPTION, artifact_key, final_message
from flows.units import outcome_row, run_name
from memo.models import RunOutcome
from memo.runner import Runner
from memo.stopping import STOP

log = logging.getLogger("memo.api")

TASK_DEPLOYMENT = "memo-task/memo-task"
CALL_WAIT = 5.0
"""Seconds a run waits for one Prefect call before it goes on (or answers) without it."""
STOP_WAIT = 1.0
"""The same while the process is stopping (a server that is up answers in milliseconds)."""
BACKOFF = 10.0
"""Seconds runs go unrecorded after Prefect failed to answer, so that each is not slowed."""
DEPLOYMENT_RECHECK = 30.0
"""Seconds between looks for the ``memo-task`` deployment while none is registered."""
TAGS = ("memo", "memo-http")


class _Late(Exception):
    """A Prefect call outlived the wait; ``future`` still brings its result."""

    def __init__(self, future: concurrent.futures.Future):
        super().__init__("Prefect did not answer in time")
        self.future = future


class FlowRunRecorder:
    """The Prefect side of the HTTP app's runs, one per process: a client, the deployment's
    id, and a few threads that make the calls (so that a wait can end before the call)."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="memo-record")
        self._lock = threading.Lock()
        self._client = None
        self._deployment: tuple[Any, float] | None = None  # (id or None, when looked up)
        self._down_until = 0.0

    def record(self, runner: Runner, task_id: str, *, dry_run: bool, lock_wait: float | None) -> RunOutcome:
        """Run one task on ``runner`` and record it as a ``memo-task`` flow run.

        Args:
            runner: the process's runner (its database pool, sandbox, guard policy).
            task_id: the task to run.
            dry_run: write to ``<exports>/tmp``, no runlog row.
            lock_wait: seconds to wait for the task's host-wide lock (0: busy at once).

        Returns:
            The run's ``RunOutcome``, whatever became of its record.

        Raises:
            DatabaseError: as ``Runner.run_task`` (the runlog row could not be written).
        """
        run = _RecordedRun(self, task_id, dry_run)
        outcome = runner.run_task(task_id, dry_run=dry_run, lock_wait=lock_wait, on_loaded=run.begin)
        run.finish(outcome)
        return outcome

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.__exit__(None, None, None)

    # -- calls to Prefect --------------------------------------------------------

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self) -> None:
        self._down_until = time.monotonic() + BACKOFF

    def call(self, fn, *args):
        """``fn(client, *args)`` in a recorder thread; its result, or ``_Late`` after the wait."""
        future = self.later(fn, *args)
        started = time.monotonic()
        while True:
            try:
                return future.result(timeout=0.1)
            except concurrent.futures.TimeoutError:
                waited = time.monotonic() - started
                if waited >= CALL_WAIT or (STOP.begun and waited >= STOP_WAIT):
                    raise _Late(future) from None

    def later(self, fn, *args) -> concurrent.futures.Future:
        """``fn(client, *args)`` in a recorder thread, in the caller's context (Prefect's
        settings, its API URL among them, are context variables)."""
        context = contextvars.copy_context()
        return self._pool.submit(context.run, lambda: fn(self.client(), *args))

    def client(self):
        with self._lock:
            if self._client is None:
                from prefect.client.orchestration import get_client

                client = get_client(sync_client=True)
                client.__enter__()
                self._client = client
            return self._client

    def create(self, client, task_id: str, name: str, dry_run: bool):
        """The flow run, Running: of the ``memo-task`` deployment if one is registered."""
        from prefect.states import Running

        parameters = {"task_id": task_id, "dry_run": dry_run}
        deployment_id = self._deployment_id(client)
        if deployment_id is not None:
            return client.create_flow_run_from_deployment(
                deployment_id, parameters=parameters, name=name, state=Running(), tags=TAGS).id
        from flows.task import memo_task

        return client.create_flow_run(memo_task, name=name, parameters=parameters, state=Running(), tags=TAGS).id

    def _deployment_id(self, client):
        from prefect.exceptions import ObjectNotFound

        known = self._deployment
        if known is not None and (known[0] is not None or time.monotonic() - known[1] < DEPLOYMENT_RECHECK):
            return known[0]
        try:
            found = client.read_deployment_by_name(TASK_DEPLOYMENT).id
        except ObjectNotFound:
            found = None
        self._deployment = (found, time.monotonic())
        return found

    @staticmethod
    def end(client, flow_run_id, outcome: RunOutcome) -> None:
        """The run's artifact, then its final state."""
        from prefect.client.schemas.actions import ArtifactCreate
        from prefect.states import Completed, Failed

        client.create_artifact(ArtifactCreate(
            key=artifact_key(outcome.task_id), type="table", description=ARTIFACT_DESCRIPTION,
            data=json.dumps([outcome_row(outcome)]), flow_run_id=flow_run_id))
        state = Completed if outcome.success else Failed
        client.set_flow_run_state(flow_run_id, state(message=final_message(outcome)), force=True)


class _RecordedRun:
    """One run's record: ``begin`` once its row is read, ``finish`` with its outcome."""

    def __init__(self, recorder: FlowRunRecorder, task_id: str, dry_run: bool):
        self.recorder = recorder
        self.task_id = task_id
        self.dry_run = dry_run
        self.flow_run_id = None
        self.late: concurrent.futures.Future | None = None

    def begin(self, label: str) -> None:
        recorder = self.recorder
        if not recorder.available():
            log.warning("Prefect failed moments ago: running task %s without recording it", label)
            return
        try:
            self.flow_run_id = recorder.call(recorder.create, self.task_id, run_name(label, self.dry_run),
                                             self.dry_run)
        except _Late as late:
            self.late = late.future
            recorder.failed()
            log.warning("Prefect did not create the flow run of task %s in time: running it without waiting",
                        label)
            return
        except Exception as exc:  # noqa: BLE001 - any failure of Prefect: the run goes on without it
            recorder.failed()
            log.warning("Prefect could not record task %s (%s: %s): running it without Prefect",
                        label, type(exc).__name__, exc)
            return
        log.info("%s: recorded as memo-task flow run %s", label, self.flow_run_id)
        log_bridge().attach(self.task_id, self.flow_run_id, None)

    def finish(self, outcome: RunOutcome) -> None:
        log_bridge().detach(self.task_id)
        if outcome.warning:  # the shrink alarm, as flows.units sends it
            emit_shrank(outcome.task_id, outcome.label, outcome.warning, outcome.bytes_written,
                        outcome.previous_bytes, outcome.change)
        if self.late is not None:  # created after all: record its end when it comes
            recorder, context = self.recorder, contextvars.copy_context()
            self.late.add_done_callback(lambda f: f.exception() is None and context.run(
                recorder.later, recorder.end, f.result(), outcome))
            return
        if self.flow_run_id is None:
            return
        try:
            self.recorder.call(self.recorder.end, self.flow_run_id, outcome)
        except _Late:
            log.warning("task %s ran; Prefect is slow to record its end (it will when it answers)", outcome.label)
        except Exception as exc:  # noqa: BLE001 - the run's own outcome is the answer
            self.recorder.failed()
            log.warning("task %s ran, but Prefect failed to record it (%s: %s)",
                        outcome.label, type(exc).__name__, exc)
