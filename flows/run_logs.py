"""``memo.*`` log records → the Prefect run they belong to (the UI's logs of a run).

Records carry their task id in a log field (``memo.sandbox.base.TASK_ID_FIELD``): the
sandboxes' reader threads and the HTTP app's recorded runs have no Prefect context, and a
recorded run's records may come before Prefect has created its flow run (``LogRoute``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Callable, Iterator

from memo.sandbox.base import TASK_ID_FIELD

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
def attached_logs(task_id: str) -> Iterator[Callable[[], None]]:
    """While a task runs in a Prefect task run, route its script's stderr lines to that run.

    Yields ``attach``, to call once the task's host-wide lock is held (``run_task``'s
    ``on_loaded``): until then another run of the task (the HTTP app's) may still be running
    its script, whose lines stay that run's.
    """
    from prefect.context import TaskRunContext

    bridge = log_bridge()
    ctx = TaskRunContext.get()
    route: LogRoute | None = None

    def attach() -> None:
        nonlocal route
        if ctx is not None and ctx.task_run is not None:
            route = bridge.route(task_id, LogRoute((ctx.task_run.flow_run_id, ctx.task_run.id)))

    try:
        yield attach
    finally:
        if route is not None:
            bridge.detach(task_id, route)
