"""Flows tests: Prefect kept quiet and offline; a real ``prefect server``; the session's test harness
is tests/conftest.py's."""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from flows.prefect_settings import PREFECT_SERVER_TUNING  # noqa: E402

BIN = Path(sys.executable).parent


def prefect_env(**extra) -> dict[str, str]:
    """A clean environment for Prefect CLI processes (no PREFECT_*/MEMO_* of this process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MEMO_"))}
    env.update(PATH=f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}", DO_NOT_TRACK="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_WORKER_QUERY_SECONDS="1")
    env.update(extra)
    return env


def stop_process_group(proc: subprocess.Popen) -> None:
    """Stop a process group we started: SIGTERM twice, a second apart unless the leader ended
    sooner (a Prefect worker needs two), then SIGKILL if it is still there 10 s later."""
    if proc.poll() is not None:
        return
    for _ in range(2):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            continue
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class PrefectServer:
    """A real ``prefect server`` (SQLite, temporary PREFECT_HOME, free port), started early:
    the deployment tests need it, and its start-up (10 s idle, far more on a loaded machine)
    then overlaps the harness tests."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="memo-prefect-server-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/api"
        self.log = open(self.home / "server.log", "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=prefect_env(PREFECT_HOME=str(self.home),
                            PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{self.home}/prefect.db",
                            **PREFECT_SERVER_TUNING),  # as deploy/prefect-server.service runs it
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait(self, timeout: float = 180) -> str:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("prefect server did not start:\n"
                                   + (self.home / "server.log").read_text()[-3000:])
            time.sleep(0.5)

    def stop(self) -> None:
        stop_process_group(self.proc)
        self.log.close()
        import shutil

        shutil.rmtree(self.home, ignore_errors=True)


_server: PrefectServer | None = None


_closed_plane = None  # tests/control_plane.ClosedPlane, started early for test_worker_boundary.py
_closed_plane_wanted = False


def pytest_collection_finish(session):
    global _server, _closed_plane_wanted
    if any("tests/flows/test_deployments.py" in item.nodeid for item in session.items):
        _server = PrefectServer()
    _closed_plane_wanted = any("tests/flows/test_worker_boundary.py" in item.nodeid for item in session.items)


def pytest_runtest_setup(item):
    """When the flows tests begin, start test_worker_boundary.py's host and Prefect server unit
    (its start-up, 15 s and more, then overlaps the tests before it). A failure here is left to
    that module's own fixture, which starts one itself."""
    global _closed_plane, _closed_plane_wanted
    if not _closed_plane_wanted or "tests/flows/test_worker_boundary.py" in item.nodeid:
        return
    _closed_plane_wanted = False
    if os.environ.get("MEMO_TEST_SKIP_MARIADB") == "1":
        return
    from tests.control_plane import ClosedPlane

    try:
        _closed_plane = ClosedPlane(item.config._tmp_path_factory.mktemp("control-plane"))
    except (Exception, pytest.skip.Exception):  # noqa: BLE001 - the module's fixture starts one and says why
        _closed_plane = None


def take_early_closed_plane():
    """The ClosedPlane started when the flows tests began (once), or None."""
    global _closed_plane, _closed_plane_wanted
    plane, _closed_plane, _closed_plane_wanted = _closed_plane, None, False
    return plane


def pytest_sessionfinish(session, exitstatus):
    if _server is not None:
        _server.stop()
    if _closed_plane is not None:
        _closed_plane.stop()


@pytest.fixture(scope="session")
def prefect_server():
    """The API URL of the session's real Prefect server."""
    global _server
    if _server is None:
        _server = PrefectServer()
    return _server.wait()


@pytest.fixture
def database_url(tmp_path):
    """The flows run over MariaDB only (the runner's own tests cover SQLite too)."""
    from memo import schema
    from tests.conftest import _mariadb_database

    import sqlalchemy as sa

    admin, name, url = _mariadb_database()
    engine = sa.create_engine(url)
    schema.create_schema(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()


def flow_run_id(state):
    return state.state_details.flow_run_id


def task_runs(state, timeout: float = 60) -> dict:
    """Task runs of a flow run, by name, once the server has recorded them all.

    Prefect 3 records task runs from events that the server processes after the
    flow has returned: read too early (more so on a busy machine) and some are
    missing or not yet final. Poll until every run is final and two reads agree.
    """
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + timeout
    previous = None
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id(state)]))
            )
            snapshot = sorted((r.name, r.state_type) for r in runs)
            settled = runs and all(r.state and r.state.is_final() for r in runs)
            if (settled and snapshot == previous) or time.monotonic() > deadline:
                return {r.name: r for r in runs}
            previous = snapshot if settled else None
            time.sleep(0.3)


def artifact_rows(state) -> list[dict]:
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id(state)]))
        )
    assert len(artifacts) == 1, artifacts
    data = artifacts[0].data
    return json.loads(data) if isinstance(data, str) else data
