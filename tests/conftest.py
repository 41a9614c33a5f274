"""Shared fixtures: a real MEMO database (SQLite file and MariaDB), settings, and a seeder.

MariaDB tests create a database of their own on 127.0.0.1:3306 and drop it after.
Set MEMO_TEST_MARIADB_URL to point elsewhere, or MEMO_TEST_SKIP_MARIADB=1 to skip
those (CI never sets it: there, a missing MariaDB fails the run).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from memo import schema
from memo.settings import Settings

MARIADB_URL = os.environ.get("MEMO_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306")


def _mariadb_database():
    if os.environ.get("MEMO_TEST_SKIP_MARIADB") == "1" and os.environ.get("CI") != "true":
        pytest.skip("MEMO_TEST_SKIP_MARIADB=1")
    name = f"memo_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(MARIADB_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )
    return admin, name, f"{MARIADB_URL}/{name}?charset=utf8mb4"


_docker_checked: dict[str, str | None] = {}


def pytest_runtest_setup(item):
    """Tests marked ``docker`` need Podman's (or Docker's) API and the script image:
    without them they FAIL under CI (``CI=true``) and are skipped elsewhere."""
    if item.get_closest_marker("docker") is None:
        return
    if "why" not in _docker_checked:
        from tests.docker.conftest import _why_unusable, docker_host

        _docker_checked["why"] = _why_unusable(docker_host())
    why = _docker_checked["why"]
    if why:
        message = f"{why}: run `eval \"$(docker/podman-up.sh | tail -1)\"` first"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(params=["sqlite", "mariadb"])
def database_url(request, tmp_path):
    """A fresh, empty MEMO database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'memo.sqlite'}"
        engine = sa.create_engine(url)
        schema.create_schema(engine)
        engine.dispose()
        yield url
        return
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


@pytest.fixture
def sqlite_url(tmp_path):
    """SQLite only, for tests whose subject is not the database."""
    url = f"sqlite:///{tmp_path / 'memo.sqlite'}"
    engine = sa.create_engine(url)
    schema.create_schema(engine)
    engine.dispose()
    return url


def make_settings(tmp_path: Path, database_url: str, **overrides) -> Settings:
    values = dict(
        database_url=database_url,
        exports_dir=tmp_path / "exports",
        work_dir=tmp_path / "work",
        sandbox="process",
        task_timeout=30,
        timezone="Europe/Amsterdam",
        # The suite's scripts print plain text under names like a.xml; the tests of the export
        # rules (tests/test_export_rules.py) run with the defaults.
        validate_exports="off",
        empty_export="write",
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return make_settings(tmp_path, database_url)


@dataclass
class Memo:
    """Writes MEMO rows the way MEMO Manager names them."""

    url: str
    engine: sa.Engine = field(init=False)
    clients: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self.engine = sa.create_engine(self.url)

    def insert(self, table, **values):
        with self.engine.begin() as conn:
            conn.execute(table.insert().values(**values))

    def client(self, username: str) -> str:
        if username not in self.clients:
            self.clients[username] = str(uuid.uuid4())
            self.insert(schema.homedir, id=self.clients[username], name=username.title(), username=username)
        return self.clients[username]

    def query(self, name: str, body: str | None, *, library: bool = True) -> str:
        qid = str(uuid.uuid4())
        self.insert(schema.query, id=qid, name=name, body=body, is_library=library)
        return qid

    def sniplet(self, name: str, body: str | None) -> str:
        sid = str(uuid.uuid4())
        self.insert(schema.script, id=sid, name=name, type="SNIP", body=body)
        return sid

    def task(
        self,
        username: str,
        file_name: str,
        body: str | None = "print('hello')",
        *,
        sql: str | None = "SELECT 1",
        frequency: str | None = "D",
        start_date: dt.date = dt.date(2024, 1, 1),
        is_active: bool = True,
        with_script: bool = True,
    ) -> str:
        homedir = self.client(username)
        name = f"{username}:{file_name.replace('.', '_', 1)}".lower()
        query_id = self.query(name, sql, library=False) if sql is not None else None
        script_id = None
        if with_script:
            script_id = str(uuid.uuid4())
            self.insert(schema.script, id=script_id, id_query=query_id, name=name, type="MAIN", body=body)
        task_id = str(uuid.uuid4())
        self.insert(
            schema.task, id=task_id, id_homedir=homedir, id_script=script_id, file_name=file_name,
            extension=file_name.rsplit(".", 1)[-1], start_date=start_date, frequency=frequency,
            is_active=is_active,
        )
        return task_id

    def runlog(self, task_id: str | None = None) -> list:
        stmt = sa.select(schema.runlog).order_by(schema.runlog.c.id)
        if task_id:
            stmt = stmt.where(schema.runlog.c.id_task == task_id)
        with self.engine.connect() as conn:
            return list(conn.execute(stmt))

    def execute(self, sql: str, **params):
        with self.engine.begin() as conn:
            return conn.execute(sa.text(sql), params)


@pytest.fixture
def memo(database_url):
    m = Memo(database_url)
    yield m
    m.engine.dispose()


def unguarded_policy():
    """A guard policy that refuses nothing (``Policy.enforce`` false).

    For tests whose subject is the sandbox, not the guard: their scripts use
    ``os``/``subprocess`` on purpose, to show what the box holds if a script
    ever got past the guard.
    """
    from guard import Policy

    return Policy(enforce=False, description="unguarded: tests of the container alone")


@pytest.fixture(scope="session")
def prefect_harness():
    """ONE temporary Prefect API for the whole test session (≈ 9 s to start); its URL,
    for child processes. Two harnesses alive at once misroute Prefect's events (task runs
    go missing), so no package or module starts its own."""
    for key, value in (("PREFECT_SERVER_ANALYTICS_ENABLED", "false"), ("DO_NOT_TRACK", "1")):
        os.environ.setdefault(key, value)
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield PREFECT_API_URL.value()
