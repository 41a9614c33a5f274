"""A real uvicorn server on a free loopback port, in a thread, for each API test."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import pytest
import uvicorn

from api.app import create_app
from api.runs import make_run
from tests.conftest import Memo, make_settings

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:<free port> until the block ends; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the kernel picks the port: no race with other tests
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


@contextmanager
def logged_messages(logger_name: str) -> Iterator[list[str]]:
    """The messages of one logger and its children while inside (caplog loses them when
    Prefect, first imported inside a test, reconfigures the root logger's handlers)."""
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def smemo(sqlite_url):
    """The MEMO seeder on SQLite only (the API, not the database, is under test here)."""
    m = Memo(sqlite_url)
    yield m
    m.engine.dispose()


@pytest.fixture
def serve(tmp_path):
    """``serve(database_url, run=None, clock=None, **settings) -> (base_url, settings)``.

    ``run``: ``"direct"`` (the Runner itself, the default), ``"prefect"`` (a ``memo-task``
    flow run per request) or any run function. The busy window is off unless set.
    """
    stack = []

    def start(database_url, *, run="direct", clock=None, lock_wait=0.0, **overrides):
        overrides.setdefault("busy_hours", 0)
        settings = make_settings(tmp_path, database_url, **overrides)
        if isinstance(run, str):
            run = make_run(settings, run)
        app = create_app(settings, run, clock=clock, lock_wait=lock_wait)
        cm = live_server(app)
        url = cm.__enter__()
        stack.append(cm)
        return url, settings

    yield start
    while stack:
        stack.pop().__exit__(None, None, None)
