"""The HTTP app's runs: the task runs directly and Prefect records it as a ``memo-task`` flow run.

MEMO Manager waits for each answer, and Prefect's engine costs a flow run a dozen API
calls and a bookkeeping thread on a server that shares the cores with the scripts
(BENCHMARKS.md, "HTTP API under load": p95 5.7–7.5 s). So the run itself is
``Runner.run_task`` in the caller's thread, and Prefect gets three calls about it, made
by one recorder thread in order, never waited for by the answer:

1. once the task's row is read, a flow run of the ``memo-task`` deployment (of the flow,
   if nothing deployed it), named ``<client>/<file>`` (``dry-run <client>/<file>``),
   tagged ``memo-http``, in state Running; the script's log lines go to it
   (``flows.run_logs.RunLogBridge``, kept until the run exists);
2. when the run ends, its table artifact (key ``memo-task-<task id>``, a dry run's
   ``memo-task-<task id>-dry-run``, the row the
   engine's runs leave) and
3. its final state, Completed or Failed with the reason: the UI shows it with the others,
   and the ``memo: HTTP task failed`` automation (``flows.notifications``) hears it.

One writer keeps this process from competing with itself for the server's database (its
SQLite answers 503 when writers collide). MEMO Manager's answer never waits for Prefect:
when Prefect fails to create a run, a warning says so and runs go unrecorded for
``BACKOFF`` seconds; when it falls ``BACKLOG_LIMIT`` records behind, new runs go
unrecorded until it catches up. The thread is a daemon: a stopping process does not wait
for a Prefect that has gone (``flush`` waits, with a limit, for those that can).

A process killed outright (SIGKILL, the OOM killer, a power cut) leaves its runs in flight
Running. Each record carries a label naming the process that made it (``RECORDER_LABEL``:
host, boot, pid namespace, pid, start time), and the next recorder on the host marks those whose process
is gone Crashed before it records anything (``mark_abandoned``; ``serve`` asks for it as
soon as Prefect's API answers). Another host's runs are left to that host.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
from typing import Any, Callable

from flows.run_logs import LogRoute, log_bridge
from flows.notifications import emit_shrank
from flows.task import ARTIFACT_DESCRIPTION, artifact_key, final_message
from flows.units import outcome_row, run_name
from memo.models import RunOutcome
from memo.errors import DatabaseError, OutcomeKind
from memo.runner import Runner, now_local

log = logging.getLogger("memo.api")

TASK_DEPLOYMENT = "memo-task/memo-task"
BACKOFF = 10.0
"""Seconds runs go unrecorded after Prefect failed to create one, so that the next do not pile up."""
BACKLOG_LIMIT = 500
"""Records waiting for Prefect beyond which new runs go unrecorded."""
DEPLOYMENT_RECHECK = 30.0
"""Seconds between looks for the ``memo-task`` deployment while none is registered."""
TAGS = ("memo", "memo-http")
RECORDER_LABEL = "memo.recorder"
"""The flow run label naming the process that records the run: ``<host> <boot id> <pid namespace>
<pid> <start>``."""
SWEEP_PAGE = 200
"""Running HTTP flow runs read per call when looking for abandoned ones."""


class FlowRunRecorder:
    """The Prefect side of the HTTP app's runs, one per process: a client, the deployment's
    id, and the thread that makes the calls."""

    def __init__(self) -> None:
        self._calls: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._client = None
        self._deployment: tuple[Any, float] | None = None  # (id or None, when looked up)
        self._down_until = 0.0
        self._swept: concurrent.futures.Future | None = None
        self._sweep_lock = threading.Lock()

    def record(self, runner: Runner, task_id: str, *, dry_run: bool, lock_wait: float | None) -> RunOutcome:
        """Run one task on ``runner`` and have it recorded as a ``memo-task`` flow run.

        Args:
            runner: the process's runner (its database pool, sandbox, guard policy).
            task_id: the task to run.
            dry_run: write to ``<exports>/tmp``, no runlog row.
            lock_wait: seconds to wait for the task's host-wide lock (0: busy at once).

        Returns:
            The run's ``RunOutcome``, whatever becomes of its record.

        Raises:
            DatabaseError: as ``Runner.run_task`` (the runlog row could not be written).
            Exception: whatever else ``Runner.run_task`` raised (a fault of ours); the record
                ends Failed with it.
        """
        run = _RecordedRun(self, task_id, dry_run)
        try:
            outcome = runner.run_task(task_id, dry_run=dry_run, lock_wait=lock_wait, on_loaded=run.begin)
        except DatabaseError as exc:  # the run ended, its runlog row not written: its record ends too
            run.finish(RunOutcome(task_id, False, exc.message, now_local(runner.settings), kind=exc.kind,
                                  dry_run=dry_run, label=run.label))
            raise
        except BaseException as exc:  # a fault of ours: the record ends Failed, not Running for good
            run.finish(RunOutcome(task_id, False, f"the runner failed: {type(exc).__name__}: {exc}",
                                  now_local(runner.settings), kind=OutcomeKind.ERROR, dry_run=dry_run,
                                  label=run.label))
            raise
        run.finish(outcome)
        return outcome

    def flush(self, timeout: float) -> bool:
        """Wait until the records asked for so far are made (or ``timeout`` passes)."""
        done = self.submit(lambda client: None)
        try:
            done.result(timeout=timeout)
            return True
        except concurrent.futures.TimeoutError:
            return False
        except Exception:  # noqa: BLE001 - a failed record was logged by the recorder thread
            return True

    def close(self, timeout: float = 1.5) -> None:
        """Make the records asked for (waiting at most ``timeout``), then end the recorder
        thread, which closes the client (a record still being made keeps it until then).

        Args:
            timeout: seconds to wait for the records asked for so far; those not made by then
                are made before the thread ends, if the process lives that long.
        """
        self.flush(timeout)
        self._calls.put((None, concurrent.futures.Future(), None, ()))

    def mark_abandoned(self) -> concurrent.futures.Future:
        """Have the runs that dead processes of this host left Running marked Crashed, once per
        recorder and before its first record (later calls return the first call's future).

        Returns:
            A future of the number of runs marked Crashed; it fails as the Prefect call did.
        """
        with self._sweep_lock:  # (not _lock: submit takes that one)
            if self._swept is None:
                self._swept = self.submit(mark_abandoned_runs)
            return self._swept

    # -- the recorder thread ------------------------------------------------------

    def submit(self, fn: Callable, *args) -> concurrent.futures.Future:
        """``fn(client, *args)`` on the recorder thread, after every call submitted before it,
        in the caller's context (Prefect's settings, its API URL among them, are context
        variables)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._calls.put((contextvars.copy_context(), future, fn, args))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="memo-record", daemon=True)
                self._thread.start()
        return future

    def _work(self) -> None:
        while True:
            context, future, fn, args = self._calls.get()
            if fn is None:  # close()
                if self._client is not None:
                    self._client.__exit__(None, None, None)
                    self._client = None
                future.set_result(None)
                with self._lock:
                    self._thread = None
                    if not self._calls.empty():  # asked for while closing: a new thread takes them
                        self._thread = threading.Thread(target=self._work, name="memo-record", daemon=True)
                        self._thread.start()
                return
            try:
                client = context.run(self._client_now)
            except Exception as exc:  # noqa: BLE001 - no client, no record: say so, back off
                self.failed()
                log.warning("Prefect's client could not be made (%s: %s): runs go unrecorded for %g s",
                            type(exc).__name__, exc, BACKOFF)
                future.set_exception(exc)
                continue
            try:
                future.set_result(context.run(fn, client, *args))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                log.warning("recording in Prefect failed: %s: %s", type(exc).__name__, exc)
                future.set_exception(exc)

    def _client_now(self):
        """The client, made on the recorder thread (only it calls this: no lock held while
        Prefect may start a temporary server)."""
        if self._client is None:
            from prefect.client.orchestration import get_client

            client = get_client(sync_client=True)
            client.__enter__()
            self._client = client
        return self._client

    def accepting(self) -> str | None:
        """Why a new run goes unrecorded, or None."""
        if time.monotonic() < self._down_until:
            return "Prefect failed moments ago"
        if self._calls.qsize() >= BACKLOG_LIMIT:
            return f"Prefect is {self._calls.qsize()} records behind"
        return None

    def failed(self) -> None:
        self._down_until = time.monotonic() + BACKOFF

    # -- the calls ------------------------------------------------------------------

    def create(self, client, task_id: str, name: str, dry_run: bool):
        """The flow run, Running: of the ``memo-task`` deployment if one is registered."""
        from prefect.states import Running

        parameters = {"task_id": task_id, "dry_run": dry_run}
        deployment_id = self._deployment_id(client)
        if deployment_id is not None:
            from prefect.exceptions import ObjectNotFound

            try:  # the key: a create the client retries after the server made it makes no second run
                return client.create_flow_run_from_deployment(
                    deployment_id, parameters=parameters, name=name, state=Running(), tags=TAGS,
                    idempotency_key=str(uuid.uuid4()), labels={RECORDER_LABEL: this_process()}).id
            except ObjectNotFound:  # the deployment was deleted (and may come back): look again next time
                self._deployment = None
        from flows.task import memo_task

        run = client.create_flow_run(memo_task, name=name, parameters=parameters, state=Running(), tags=TAGS)
        try:  # (no labels argument here); without the label the run still gets its end
            client.update_flow_run_labels(run.id, {RECORDER_LABEL: this_process()})
        except Exception as exc:  # noqa: BLE001 - a killed process's run is then left to the operator
            log.warning("flow run %s has no %s label (%s: %s)", run.id, RECORDER_LABEL, type(exc).__name__, exc)
        return run.id

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
        """The run's artifact, then its final state (also when the artifact could not be made:
        a run left Running would stay so for good, and its failure would notify no one)."""
        from prefect.client.schemas.actions import ArtifactCreate
        from prefect.states import Completed, Failed

        try:
            client.create_artifact(ArtifactCreate(
                key=artifact_key(outcome.task_id, outcome.dry_run), type="table", description=ARTIFACT_DESCRIPTION,
                data=json.dumps([outcome_row(outcome)]), flow_run_id=flow_run_id))
        except Exception as exc:  # noqa: BLE001 - the state matters more than the artifact
            log.warning("task %s: Prefect failed to make its artifact (%s: %s); its state is still set",
                        outcome.label, type(exc).__name__, exc)
        state = Completed if outcome.success else Failed
        client.set_flow_run_state(flow_run_id, state(message=final_message(outcome)), force=True)


class _RecordedRun:
    """One run's record: ``begin`` once its row is read, ``finish`` with its outcome; the
    recorder thread makes ``_create`` and then ``_end``, in that order."""

    def __init__(self, recorder: FlowRunRecorder, task_id: str, dry_run: bool):
        self.recorder = recorder
        self.task_id = task_id
        self.dry_run = dry_run
        self.label = task_id
        self.asked = False
        self.flow_run_id = None
        self.route: LogRoute | None = None

    def begin(self, label: str) -> None:
        self.label = label
        why_not = self.recorder.accepting()
        if why_not:
            log.warning("%s: task %s runs unrecorded", why_not, label)
            return
        self.asked = True
        self.route = log_bridge().route(self.task_id)
        self.recorder.submit(self._create)

    def finish(self, outcome: RunOutcome) -> None:
        if self.route is not None:
            log_bridge().detach(self.task_id, self.route)
        emit_shrank(outcome)  # the shrink alarm, as flows.units sends it
        if self.asked:
            self.recorder.submit(self._end, outcome)

    def _create(self, client) -> None:
        try:
            self.flow_run_id = self.recorder.create(client, self.task_id, run_name(self.label, self.dry_run),
                                                    self.dry_run)
        except Exception as exc:  # noqa: BLE001 - any failure of Prefect: the run went on without it
            self.recorder.failed()
            log.warning("Prefect could not record task %s (%s: %s): it ran without Prefect",
                        self.label, type(exc).__name__, exc)
            return
        log.info("%s: recorded as memo-task flow run %s", self.label, self.flow_run_id)
        log_bridge().resolve(self.route, self.flow_run_id)

    def _end(self, client, outcome: RunOutcome) -> None:
        if self.flow_run_id is None:
            return
        try:
            self.recorder.end(client, self.flow_run_id, outcome)
        except Exception as exc:  # noqa: BLE001 - the run's own outcome was the answer
            log.warning("task %s ran, but Prefect failed to record its end (%s: %s)",
                        outcome.label, type(exc).__name__, exc)


# -- runs that a dead process left Running ------------------------------------------


def this_process() -> str:
    """This process as ``RECORDER_LABEL`` names it: a pid alone is reused, with the boot and
    the process's start time it names one process for good."""
    return f"{socket.gethostname()} {_boot_id()} {_pid_namespace()} {os.getpid()} {_start_time(os.getpid())}"


def recorder_gone(label: str) -> bool:
    """Whether the process a ``RECORDER_LABEL`` value names is of this host and gone (a
    label of another host, or not ours, is never "gone": that host's recorder judges it)."""
    parts = label.split(" ")
    if len(parts) != 5 or parts[0] != socket.gethostname() or not parts[3].isdigit():
        return False
    _host, boot, namespace, pid, started = parts
    if boot != _boot_id():
        return True  # the host rebooted since
    if namespace != _pid_namespace() or started == "-":  # another container's pids, or unknown
        return False
    return _start_time(int(pid)) != started


def mark_abandoned_runs(client) -> int:
    """Mark Crashed the ``memo-http`` flow runs left Running by processes of this host that are
    gone; the number marked. Their tasks' runlog rows say whether the scripts ended."""
    from prefect.client.schemas.filters import (
        FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType, FlowRunFilterTags)
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    running = FlowRunFilter(tags=FlowRunFilterTags(all_=["memo-http"]),
                            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
    abandoned, offset = [], 0
    while True:
        page = client.read_flow_runs(flow_run_filter=running, limit=SWEEP_PAGE, offset=offset)
        abandoned += [run for run in page if isinstance((run.labels or {}).get(RECORDER_LABEL), str)
                      and recorder_gone(run.labels[RECORDER_LABEL])]
        if len(page) < SWEEP_PAGE:
            break
        offset += SWEEP_PAGE
    for run in abandoned:
        pid = run.labels[RECORDER_LABEL].split(" ")[3]
        client.set_flow_run_state(run.id, Crashed(message=(
            f"the process that ran it (pid {pid}) ended before the run did, and never recorded its "
            "outcome; the task's runlog says whether the script ended")), force=True)
    if abandoned:
        log.warning("marked Crashed %d memo-task flow run(s) that ended processes of this host left Running: %s",
                    len(abandoned), ", ".join(run.name for run in abandoned))
    return len(abandoned)


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()[:8]
    except OSError:
        return "-"


def _pid_namespace() -> str:
    """This process's pid namespace (a container sharing the host name has pids of its own)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def _start_time(pid: int) -> str:
    """The process's start, in clock ticks after boot (``/proc/<pid>/stat`` field 22); ``-``
    when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "-"
