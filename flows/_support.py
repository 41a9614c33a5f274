"""What the flows share: settings, fast Prefect settings, quiet Failed states, memo.* logs in the run logs.

Kept thin on purpose: every decision about MEMO tasks lives in ``memo/``.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import logging
import threading
from typing import Iterator

from memo.sandbox.base import TASK_ID_FIELD
from memo.settings import Settings, load_settings

_SETTINGS: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("memo_settings", default=None)


@contextlib.contextmanager
def using_settings(settings: Settings) -> Iterator[None]:
    """Run flows in this context with these settings (in-process callers: CLI, HTTP app, tests).

    Settings never travel as flow parameters: they hold the database password.
    """
    token = _SETTINGS.set(settings)
    try:
        yield
    finally:
        _SETTINGS.reset(token)


def resolve_settings(database_block: str | None = None, container_block: str | None = None) -> Settings:
    """The settings of this run: the caller's, else the environment; then the named blocks over them."""
    settings = _SETTINGS.get() or load_settings()
    if database_block or container_block:
        from blocks import apply_blocks

        settings = apply_blocks(settings, database_block=database_block, container_block=container_block)
    return settings


@contextlib.contextmanager
def fast_flows() -> Iterator[None]:
    """Prefect settings for flows run in-process: no heartbeat thread (saves ~1 s per flow).

    Without ``PREFECT_API_URL`` Prefect starts a temporary server first (7–16 s idle,
    far more on a loaded host): its start-up timeout is raised from 20 s to
    ``PREFECT_DEFAULTS``' value unless the environment sets one.
    """
    import os

    from flows.prefect_settings import PREFECT_DEFAULTS
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    updates: dict = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    if "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" not in os.environ:
        updates[PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS] = int(
            PREFECT_DEFAULTS["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
    with temporary_settings(updates=updates):
        yield


# -- a Failed state the flow returns is no crash -------------------------------------

_RETURNED_FAILURES: collections.deque[str] = collections.deque(maxlen=64)
_quiet_lock = threading.Lock()
_quiet_installed = False


class ReturnedFailure(Exception):
    """The data of a ``Failed`` state a flow or unit returns: Prefect wants an exception there
    (a worker's engine raises it), and it carries the run's ``outcome`` back to the caller."""

    def __init__(self, message: str, outcome=None):
        super().__init__(message)
        self.outcome = outcome


class _ReturnedFailureFilter(logging.Filter):
    """Drops Prefect's crash report of a run that ended on a ``Failed`` state its flow returned.

    Run by a worker or a served deployment, Prefect's engine turns that state, once
    recorded, into a ``FailedRun`` (message: the state's) and logs it as "Engine execution
    exited with unexpected exception" with a ~30-line traceback, in the run's logs and the
    process output. The flow has already logged why it failed. Only a ``FailedRun`` whose
    message is one the flows returned is dropped: any other exception is still reported.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from prefect.exceptions import FailedRun

        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, ReturnedFailure)
                    or (isinstance(exc, FailedRun) and str(exc) in _RETURNED_FAILURES))


def failed(message: str, outcome=None):
    """``Failed(message=...)`` for a flow or unit to return, without a crash report after it;
    ``outcome`` (a ``RunOutcome``) rides along as the state's result (``ReturnedFailure``)."""
    global _quiet_installed
    from prefect.states import Failed

    with _quiet_lock:
        _RETURNED_FAILURES.append(message)
        if not _quiet_installed:
            quiet = _ReturnedFailureFilter()
            for name in ("prefect.flow_runs", "prefect.engine"):  # the engine's two reports
                logging.getLogger(name).addFilter(quiet)
            _quiet_installed = True
    return Failed(message=message, data=None if outcome is None else ReturnedFailure(message, outcome))


# -- memo.* logs → the Prefect run logs (the UI) -------------------------------------

class LogRoute:
    """Where the records of one run go: its flow (and task) run ids, or, until Prefect has
    created the run, the records kept for it (at most ``PENDING_LIMIT``)."""

    PENDING_LIMIT = 500

    def __init__(self, ids: tuple[object, object | None] | None = None):
        self.ids = ids
        self.pending: list[logging.LogRecord] = []


class RunLogBridge(logging.Handler):
    """Sends ``memo.*`` records to the Prefect API, attached to the right run.

    Records emitted inside a flow or task run go where Prefect's context says. The
    sandboxes log a script's stderr lines from their own reader thread, and the HTTP app's
    runs have no Prefect context at all: those records carry their task id
    (``memo.sandbox.base.TASK_ID_FIELD``, logging's ``extra``), which maps to the run's
    ``LogRoute`` (``attach``; ``route`` for a run Prefect has not created yet).
    """

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        from prefect.logging.handlers import APILogHandler

        self._api = APILogHandler()
        self._api.setFormatter(logging.Formatter("%(message)s"))
        self._routes: dict[str, LogRoute] = {}
        self._lock = threading.Lock()

    def attach(self, task_id: str, flow_run_id, task_run_id) -> None:
        self.route(task_id, LogRoute((flow_run_id, task_run_id)))

    def route(self, task_id: str, route: LogRoute | None = None) -> LogRoute:
        """Send the task's records to ``route`` (a new, unresolved one by default) from now on."""
        route = route or LogRoute()
        with self._lock:
            self._routes[task_id] = route
        return route

    def resolve(self, route: LogRoute, flow_run_id, task_run_id=None) -> None:
        """The run exists now: its kept records go to it, and the next ones straight."""
        with self._lock:
            route.ids = (flow_run_id, task_run_id)
            pending, route.pending = route.pending, []
        for record in pending:
            self._send(record, route.ids)

    def detach(self, task_id: str, route: LogRoute | None = None) -> None:
        """No more records to the task's route (to ``route`` only, if given)."""
        with self._lock:
            if route is None or self._routes.get(task_id) is route:
                self._routes.pop(task_id, None)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from prefect.context import FlowRunContext, TaskRunContext

            if getattr(record, "flow_run_id", None) is not None or TaskRunContext.get() or FlowRunContext.get():
                self._api.emit(record)
                return
            task_id = getattr(record, TASK_ID_FIELD, None)
            with self._lock:
                route = self._routes.get(task_id) if task_id is not None else None
                if route is None:
                    return  # outside any run (e.g. the HTTP app between runs): console only
                if route.ids is None:
                    if len(route.pending) < LogRoute.PENDING_LIMIT:
                        route.pending.append(logging.makeLogRecord(record.__dict__))
                    return
                ids = route.ids
            self._send(record, ids)
        except Exception:  # noqa: BLE001 - never let logging break a run
            self.handleError(record)

    def _send(self, record: logging.LogRecord, ids) -> None:
        record = logging.makeLogRecord(record.__dict__)
        record.flow_run_id, record.task_run_id = ids
        self._api.emit(record)


_bridge: RunLogBridge | None = None
_bridge_lock = threading.Lock()


def log_bridge() -> RunLogBridge:
    """Install (once per process) the bridge on the ``memo`` logger and return it."""
    global _bridge
    with _bridge_lock:
        if _bridge is None:
            _bridge = RunLogBridge()
            memo_logger = logging.getLogger("memo")
            memo_logger.addHandler(_bridge)
            if memo_logger.getEffectiveLevel() > logging.INFO:
                memo_logger.setLevel(logging.INFO)
        return _bridge


@contextlib.contextmanager
def attached_logs(task_id: str) -> Iterator[None]:
    """While a task runs in a Prefect task run, route its script's stderr lines to that run."""
    from prefect.context import TaskRunContext

    bridge = log_bridge()
    ctx = TaskRunContext.get()
    if ctx is None or ctx.task_run is None:
        yield
        return
    bridge.attach(task_id, ctx.task_run.flow_run_id, ctx.task_run.id)
    try:
        yield
    finally:
        bridge.detach(task_id)
