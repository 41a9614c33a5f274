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
itself happens in a bounded thread pool (``settings.concurrency`` workers,
``api.run_pool``), outside the request: a client that gives up does not stop it; it
finishes, is written to ``runlog`` and is logged (``api.access_log``: one line per
request). ``/health`` needs no token and ignores the busy window, so probes always work.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
from contextlib import asynccontextmanager
from typing import Annotated, Callable

from fastapi import Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

from api.access_log import AccessLog
from api.busy import in_busy_window
from api.run_pool import RunFn, RunPool, failure_result
from memo.settings import Settings

BUSY_MESSAGE = "Taskrunner does not accept client calls during scheduled hours"
UNAUTHORIZED_MESSAGE = "Missing or invalid bearer token"
UUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
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
        return JSONResponse(failure_result(raw, message, zone), status_code=422)

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
