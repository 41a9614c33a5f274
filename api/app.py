"""The HTTP API MEMO Manager calls: ``GET /runtask/{id}``, ``GET /dryruntask/{id}``, ``GET /health``.

``create_app(settings, run=...)`` builds it; ``run`` is how one task is run (see
``api.runs``: through Prefect by default). Answers, in the order they are decided:

    401  MEMO_HTTP_TOKEN is set and the request lacks ``Authorization: Bearer <token>``
    503  inside the busy window: {"message": "Taskrunner does not accept client calls during scheduled hours"}
    422  the id is not a UUID (checked before anything touches the database)
    409  the same task is already running (this API, the nightly flow, or a CLI run)
    404  no such task
    200  the run succeeded; 500 it failed (message = the error)

Every answer to a run request except 401/503 is MEMO's TaskResult JSON. The run
itself happens in a bounded thread pool (``settings.concurrency`` workers),
outside the request: a client that gives up does not stop it; it finishes, is
written to ``runlog`` and is logged. ``/health`` needs no token and ignores the
busy window, so probes always work.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Annotated, Callable

from fastapi import Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

from api.busy import in_busy_window
from memo.errors import MemoError
from memo.models import RunOutcome
from memo.settings import Settings

log = logging.getLogger("memo.api")

BUSY_MESSAGE = "Taskrunner does not accept client calls during scheduled hours"
UNAUTHORIZED_MESSAGE = "Missing or invalid bearer token"
UUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
LOG_MESSAGE_CHARS = 200
EXAMPLE_TASK_ID = "5f0c7c1e-2b7a-4d7e-9a59-0d6f3c1b2a10"


class TaskResult(BaseModel):
    """MEMO's TaskResult, field for field as the Java runner sent it."""

    idTask: str = Field(description="the task id as requested")
    message: str = Field(description='"OK", or the error')
    dateTime: str = Field(
        description="local time (MEMO_TIMEZONE) the run started, ISO 8601, no zone",
        examples=["2024-11-28T10:02:32.325731"],
    )
    output: None = Field(description="always null")
    success: bool


class Message(BaseModel):
    message: str


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Refused(Exception):
    """An answer decided before any run: 401, 503."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


RunFn = Callable[..., RunOutcome]
Clock = Callable[[], dt.datetime]

TaskId = Annotated[
    str,
    Path(
        pattern=UUID_PATTERN,
        description="the task's id (a UUID, as stored in task.id)",
        json_schema_extra={"format": "uuid"},
        examples=[EXAMPLE_TASK_ID],
    ),
]

RUN_RESPONSES = {
    200: {"model": TaskResult, "description": "the run succeeded"},
    401: {"model": Message, "description": "MEMO_HTTP_TOKEN is set and the bearer token is missing or wrong"},
    404: {"model": TaskResult, "description": "no task with this id"},
    409: {"model": TaskResult, "description": "this task is already running (here, in the nightly flow or a CLI run)"},
    422: {"model": TaskResult, "description": "the id is not a UUID"},
    500: {"model": TaskResult, "description": "the run failed; message is the error"},
    503: {"model": Message, "description": "inside the busy window (scheduled hours)"},
}


def create_app(
    settings: Settings,
    run: RunFn | None = None,
    *,
    lock_wait: float = 0.0,
    clock: Clock | None = None,
) -> FastAPI:
    """The API for these settings.

    ``run(task_id, dry_run=, lock_wait=)`` runs one task (default: ``api.runs.make_run``,
    through Prefect). ``lock_wait`` is how long a request waits for the same task
    running in another process before answering 409 (0: at once). ``clock``
    returns the current time (aware) for the busy window; tests inject it.
    """
    if run is None:
        from api.runs import make_run

        run = make_run(settings)
    zone = settings.zone
    clock = clock or (lambda: dt.datetime.now(zone))
    runs = RunPool(run, settings.concurrency, lock_wait=lock_wait, zone=zone)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        # Runs whose client has gone still finish and are logged before the process ends.
        await asyncio.to_thread(runs.shutdown)

    # /docs and /redoc from files the fastapi-offline package ships (under /static-offline-docs),
    # not from a CDN: they work on a closed network. Like /openapi.json, they need no token.
    app = FastAPIOffline(
        title="MEMO task runner",
        version="1.0",
        description="Run a MEMO task now, as MEMO Manager's Run and Dry run buttons do.",
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from swagger.io
    )
    app.state.runs = runs

    dependencies = []
    if settings.http_token:
        dependencies.append(Depends(_token_check(settings.http_token)))

    async def outside_busy_window() -> None:
        if in_busy_window(clock(), settings.busy_start, settings.busy_hours, zone):
            raise Refused(503, BUSY_MESSAGE)

    dependencies.append(Depends(outside_busy_window))

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        request.state.outcome = exc.message
        return JSONResponse({"message": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        raw = str(request.path_params.get("task_id", ""))
        message = f"{raw!r} is not a task id (expected a UUID)"
        request.state.task = raw
        request.state.outcome = message
        return JSONResponse(_failure(raw, message, zone), status_code=422)

    @app.get("/health", response_model=Health, summary="Liveness probe (no token, no busy window)")
    def health() -> dict:
        return {"status": "ok"}

    @app.get(
        "/runtask/{task_id}",
        response_model=TaskResult,
        responses=RUN_RESPONSES,
        dependencies=dependencies,
        summary="Run a task now: its export is replaced and a runlog row written",
    )
    async def runtask(task_id: TaskId, request: Request):
        return await runs.answer(request, task_id, dry_run=False)

    @app.get(
        "/dryruntask/{task_id}",
        response_model=TaskResult,
        responses=RUN_RESPONSES,
        dependencies=dependencies,
        summary="Dry-run a task: the export goes to <exports>/tmp/<username>_<file_name>, no runlog row",
    )
    async def dryruntask(task_id: TaskId, request: Request):
        return await runs.answer(request, task_id, dry_run=True)

    app.add_middleware(AccessLog)
    return app


def _token_check(token: str):
    expected = token.encode("utf-8")
    bearer = HTTPBearer(auto_error=False, description="MEMO_HTTP_TOKEN")

    async def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        given = credentials.credentials.encode("utf-8") if credentials else b""
        # compare_digest even for a missing token: the time taken never depends on the token.
        if not hmac.compare_digest(given, expected):
            raise Refused(401, UNAUTHORIZED_MESSAGE, {"WWW-Authenticate": "Bearer"})

    return require_token


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
        request.state.task = task_id
        future = self.submit(task_id, dry_run)
        if future is None:
            message = f"Task {task_id} is already running; try again when it has finished"
            request.state.outcome = message
            return JSONResponse(_failure(task_id, message, self.zone), status_code=409)
        try:
            # shield: should the request be cancelled, the run (even a queued one) goes on.
            outcome: RunOutcome = await asyncio.shield(asyncio.wrap_future(future))
        except MemoError as exc:
            request.state.outcome = exc.message
            return JSONResponse(_failure(task_id, exc.message, self.zone), status_code=500)
        except Exception as exc:  # noqa: BLE001 - never a bare traceback: MEMO Manager shows `message`
            message = f"Internal error: {type(exc).__name__}: {exc}"
            request.state.outcome = message
            return JSONResponse(_failure(task_id, message, self.zone), status_code=500)
        request.state.outcome = outcome.message
        request.state.label = outcome.label
        request.state.kind = outcome.kind
        if await request.is_disconnected():
            request.state.client_gone = True
        return JSONResponse(outcome.task_result(), status_code=outcome.kind.http_status)

    def shutdown(self) -> None:
        with self._lock:
            pending = len(self.running)
        if pending:
            log.info("waiting for %d run(s) to finish before stopping", pending)
        self.executor.shutdown(wait=True)
        close = getattr(self.run, "close", None)
        if close:
            close()


def _failure(task_id: str, message: str, zone) -> dict:
    return {
        "idTask": task_id,
        "message": message,
        "dateTime": dt.datetime.now(zone).replace(tzinfo=None).isoformat(timespec="microseconds"),
        "output": None,
        "success": False,
    }


class AccessLog:
    """One log line per request: task, client, path, status, outcome, duration (pure ASGI,
    so a client that disconnects never cancels the request's run)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.monotonic()
        status = [None]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._log(scope, status[0] or 500, time.monotonic() - started)

    @staticmethod
    def _log(scope, status: int, duration: float) -> None:
        state = scope.get("state") or {}
        path = scope.get("path", "")
        client = scope.get("client")
        client = f"{client[0]}:{client[1]}" if client else "-"
        outcome = " ".join(str(state.get("outcome", "")).split())
        if len(outcome) > LOG_MESSAGE_CHARS:
            outcome = outcome[:LOG_MESSAGE_CHARS] + "…"
        level = logging.DEBUG if path == "/health" and status == 200 else (
            logging.INFO if status < 500 else logging.ERROR)
        log.log(
            level,
            "%s %s task=%s label=%s client=%s status=%d duration=%.3fs%s outcome=%r",
            scope.get("method", "-"), path, state.get("task", "-"), state.get("label") or "-", client,
            status, duration, " client_gone=true" if state.get("client_gone") else "", outcome,
        )
