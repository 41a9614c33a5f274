"""Fixtures for the fault suite: the real MariaDB, the real container API, faults on demand.

Every test here runs against MariaDB (a fresh database per test, as tests/conftest.py
makes them) and, where marked ``docker``, against the Docker API Podman serves. As in
tests/docker, a missing engine FAILS the run under CI (``CI=true``) and skips elsewhere.

Tools for making faults:

- ``TcpProxy``: a loopback TCP proxy in front of MariaDB that the test can take down
  (refusing new connections and cutting live ones) and bring back;
- ``tmpfs``: a small tmpfs mounted over a folder (needs root, as CI has), for disk-full;
- ``runner_child``: the runner in a child process, to SIGKILL it mid-run;
- ``cli``: ``memo-taskrunner`` in a child process with MEMO_* settings;
- ``limited_user``: a MariaDB login with only some grants on the test database;
- ``prefect_harness`` (tests/conftest.py): the session's Prefect API (children reach it too).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from memo import schema  # noqa: E402
from tests.conftest import _mariadb_database, make_settings  # noqa: E402
from tests.docker.conftest import LABEL, docker_host, docker_settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TASK_ID_LABEL = "org.oapen.memo.task-id"


# --- the container engine -------------------------------------------------------------------



def containers_of(task_id: str) -> list[dict]:
    """Every container (running or not) the runner made for this task."""
    import docker

    api = docker.APIClient(base_url=docker_host(), version="1.41", timeout=60)
    try:
        return api.containers(all=True, filters={"label": [LABEL, f"{TASK_ID_LABEL}={task_id}"]})
    finally:
        api.close()


def settings_for(tmp_path: Path, url: str, sandbox: str = "process", **overrides):
    """Settings on the MariaDB ``url``: the process sandbox, or the docker one (network none)."""
    if sandbox == "docker":
        container = {k: overrides.pop(k) for k in list(overrides) if k in _CONTAINER_FIELDS}
        settings = docker_settings(tmp_path, timeout=overrides.pop("task_timeout", 60), database_url=url,
                                   **container)
        return settings.model_copy(update=overrides)
    return make_settings(tmp_path, url, **overrides)


_CONTAINER_FIELDS = {"network", "allow", "max_connections", "memory", "cpus", "pids_limit", "user",
                     "tmpfs_size", "read_only", "environment", "scripts_mount", "output"}


# --- MariaDB ------------------------------------------------------------------------------------


class MariaDB:
    """The test's own database: its URL, its name and an admin (root) engine on the server."""

    def __init__(self, admin: sa.Engine, name: str, url: str):
        self.admin, self.name, self.url = admin, name, url

    def admin_sql(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(sql))

    def url_via(self, host: str, port: int, user: str | None = None, password: str | None = None) -> str:
        """This database's URL through another address (a proxy) and/or another login."""
        parsed = sa.engine.make_url(self.url)
        return parsed.set(host=host, port=port, username=user or parsed.username,
                          password=password if user else parsed.password).render_as_string(hide_password=False)


@pytest.fixture
def mariadb() -> Iterator[MariaDB]:
    admin, name, url = _mariadb_database()
    engine = sa.create_engine(url)
    schema.create_schema(engine)
    engine.dispose()
    try:
        yield MariaDB(admin, name, url)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()


@pytest.fixture
def database_url(mariadb) -> str:
    """The fault suite runs on MariaDB only (tests/conftest.py's ``memo`` seeder uses this)."""
    return mariadb.url


@pytest.fixture
def limited_user(mariadb):
    """``limited_user(grants) -> url``: a login with only ``grants`` on the test database.

    E.g. ``limited_user("SELECT")``. The users are dropped after the test.
    """
    made = []

    def make(grants: str) -> str:
        user = f"memo_fault_{secrets.token_hex(4)}"
        password = secrets.token_hex(8)
        for host in ("%", "localhost", "127.0.0.1"):
            mariadb.admin_sql(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
            mariadb.admin_sql(f"GRANT {grants} ON `{mariadb.name}`.* TO '{user}'@'{host}'")
            made.append(f"'{user}'@'{host}'")
        parsed = sa.engine.make_url(mariadb.url)
        return mariadb.url_via(parsed.host, parsed.port or 3306, user, password)

    yield make
    for account in made:
        mariadb.admin_sql(f"DROP USER IF EXISTS {account}")


# --- a TCP proxy the test can pull the plug on ---------------------------------------------------


class TcpProxy:
    """A loopback TCP proxy to ``target``. ``down()`` cuts every connection and refuses new
    ones (a database host gone away); ``up()`` serves again on the same port."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.serving = threading.Event()
        self.serving.set()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.serving.is_set():
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()  # RST: "connection refused/reset", as a dead host
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
                self.accepted += 1
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair) -> None:
        a, b = pair
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select(timeout=0.5):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
                with self._lock:
                    if pair not in self._pairs:
                        return
        except OSError:
            return
        finally:
            sel.close()
            self._drop(pair)

    def _drop(self, pair) -> None:
        with self._lock:
            self._pairs.discard(pair)
        for s in pair:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def down(self) -> None:
        self.serving.clear()
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            self._drop(pair)

    def up(self) -> None:
        self.serving.set()

    def close(self) -> None:
        self._closed = True
        self.down()
        self.listener.close()


@pytest.fixture
def proxy(mariadb) -> Iterator[TcpProxy]:
    parsed = sa.engine.make_url(mariadb.url)
    p = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 3306))
    yield p
    p.close()


# --- a small disk --------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (e.g. ``1m``) on ``path`` for the block (root only)."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("mounting a tmpfs needs root", pytrace=False)
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        message = f"cannot mount a tmpfs on {path}: {done.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield path
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


# --- the runner in a child process ---------------------------------------------------------------

CHILD = """\
import json, sys
from memo.runner import Runner
from memo.settings import Settings
settings = Settings.model_validate_json(open(sys.argv[1]).read())
policy = None
if sys.argv[3] == "unguarded":
    from tests.conftest import unguarded_policy
    policy = unguarded_policy()
print("ready", flush=True)
outcome = Runner(settings, policy=policy).run_task(sys.argv[2])
print(json.dumps(outcome.task_result()), flush=True)
"""


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMO_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


@pytest.fixture
def runner_child(tmp_path):
    """``runner_child(settings, task_id, unguarded=False) -> Popen``: ``Runner.run_task`` in a child."""
    children: list[subprocess.Popen] = []

    def start(settings, task_id: str, *, unguarded: bool = False) -> subprocess.Popen:
        conf = tmp_path / f"settings-{secrets.token_hex(3)}.json"
        conf.write_text(settings.model_dump_json())
        child = subprocess.Popen(
            [PYTHON, "-c", CHILD, str(conf), task_id, "unguarded" if unguarded else "guarded"],
            cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()


def settings_env(settings) -> dict[str, str]:
    """MEMO_* variables for a child ``memo-taskrunner`` with these (process-sandbox) settings."""
    return {
        "MEMO_DATABASE_URL": settings.database_url,
        "MEMO_EXPORTS_DIR": str(settings.exports_dir),
        "MEMO_WORK_DIR": str(settings.work_dir),
        "MEMO_SANDBOX": settings.sandbox,
        "MEMO_TASK_TIMEOUT": f"{settings.task_timeout:g}",
        "MEMO_TIMEZONE": settings.timezone,
        "MEMO_CONCURRENCY": str(settings.concurrency),
        "MEMO_BUSY_HOURS": "0",
    }


@pytest.fixture
def cli():
    """``cli(settings, *args, **env) -> Popen``: ``memo-taskrunner`` in a child process."""
    children: list[subprocess.Popen] = []

    def start(settings, *args: str, **env: str) -> subprocess.Popen:
        child = subprocess.Popen(
            [PYTHON, "-m", "cli.main", *args], cwd=ROOT,
            env=child_env(**settings_env(settings), **env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait()


def wait_for(condition, timeout: float, what: str, interval: float = 0.02):
    """Poll ``condition()`` until it is truthy (returned) or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def partial_files(settings) -> list[Path]:
    d = Path(settings.exports_dir) / ".partial"
    return sorted(d.iterdir()) if d.is_dir() else []
