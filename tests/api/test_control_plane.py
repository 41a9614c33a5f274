"""``memo-taskrunner serve`` with its Prefect API closed (issue 12).

- started as deploy/memo-http.service starts it, next to a Prefect server started as
  deploy/prefect-server.service starts it (both with the secrets ``setup-secrets`` wrote):
  the HTTP API wants the bearer token by default, and a guard-clean script run through
  ``GET /runtask/{id}`` in a real container reaches neither the Prefect API (with or without
  the credentials) nor the runner's HTTP API, while the same probes from the host do;
- without ``PREFECT_API_URL``: the one temporary server ``serve`` starts in-process refuses
  requests without the per-process auth string, while the HTTP runs, the catch-up and the
  served deployments' child all work through it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Memo
from tests.control_plane import (
    BIN,
    PrefectServerUnit,
    Unit,
    assert_closed,
    export_of,
    free_port,
    guard_is_clean,
    http_targets,
    make_host,
    memo_env_for,
    prefect_targets,
    probe_from_host,
    probe_script,
    wait_http,
)
from tests.flows.conftest import stop_process_group

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mariadb_url():
    """A MEMO database on MariaDB, as production's (the tests/conftest.py one runs on SQLite too)."""
    import sqlalchemy as sa

    from memo import schema
    from tests.conftest import _mariadb_database

    admin, name, url = _mariadb_database()
    engine = sa.create_engine(url)
    schema.create_schema(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    admin.dispose()


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.mariadb
def test_a_script_run_through_serve_reaches_no_control_plane(tmp_path, mariadb_url):
    database_url = mariadb_url
    memo = Memo(database_url)
    http_port = free_port()
    host = make_host(tmp_path, **memo_env_for(tmp_path, database_url, MEMO_HTTP_PORT=str(http_port)))
    http_url = f"http://127.0.0.1:{http_port}"
    token = host.secrets["MEMO_HTTP_TOKEN"]
    targets = {**prefect_targets(host.prefect_url, host.secrets["PREFECT_API_AUTH_STRING"]),
               **http_targets(http_url, token)}
    script = probe_script(targets)
    guard_is_clean(script, tmp_path)
    task_id = memo.task("abccorp", "serve-probe.json", script, sql=None, start_date=dt.date(2099, 1, 1))

    server = PrefectServerUnit(host)
    log = tmp_path / "memo-http.log"
    serve = None
    try:
        server.wait()
        serve = Unit.read("memo-http.service").start(host, log)
        wait_http(f"{http_url}/health", serve, log)
        assert httpx.get(f"{http_url}/runtask/{task_id}", timeout=30).status_code == 401  # token by default
        answer = httpx.get(f"{http_url}/runtask/{task_id}", headers={"Authorization": f"Bearer {token}"},
                           timeout=180)
        assert answer.status_code == 200, answer.text + log.read_text(errors="replace")[-4000:]
        assert answer.json()["success"] is True
        from_host = probe_from_host(targets)
    finally:
        if serve is not None:
            stop_process_group(serve)
        server.stop()
        memo.engine.dispose()
    output = log.read_text(errors="replace")
    assert "Prefect could not run task" not in output and "failed to record" not in output, output[-4000:]
    assert_closed(export_of(Path(host.memo_env["MEMO_EXPORTS_DIR"]), "abccorp", "serve-probe.json"), from_host)


TEMPORARY_SERVER = re.compile(r"Starting temporary server on (http://127\.0\.0\.1:\d+)")


def _serve_env(tmp_path: Path, sqlite_url: str, port: int) -> dict[str, str]:
    """No PREFECT_API_URL: the temporary servers; a night recorded long ago and a yearly cron,
    so ``serve`` catches up 1 January through Prefect as well."""
    from memo.catchup import record_night

    record_night(tmp_path / "work", dt.date(2000, 1, 1))
    return {
        "PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
        "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "MEMO_DATABASE_URL": sqlite_url, "MEMO_EXPORTS_DIR": str(tmp_path / "exports"),
        "MEMO_WORK_DIR": str(tmp_path / "work"), "MEMO_SANDBOX": "process", "MEMO_HTTP_PORT": str(port),
        "MEMO_HTTP_TOKEN": "test-token", "MEMO_HTTP_VIA": "prefect", "MEMO_PREFECT_SERVE": "yes",
        "MEMO_BUSY_HOURS": "0", "MEMO_SCHEDULE_CRON": "0 0 1 1 *", "MEMO_TIMEZONE": "Europe/Amsterdam",
    }


def _wait_for(pattern: str, log: Path, proc: subprocess.Popen, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text(errors="replace")
        if re.search(pattern, text):
            return text
        assert proc.poll() is None and time.monotonic() < deadline, f"no {pattern!r} in:\n{text[-4000:]}"
        time.sleep(0.5)


@pytest.mark.slow
def test_serve_without_prefect_api_url_runs_a_temporary_server_that_requires_auth(tmp_path, sqlite_url, smemo):
    task_id = smemo.task("abccorp", "temp.xml", "print('<temp/>')", start_date=dt.date(2099, 1, 1))
    port = free_port()
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([str(BIN / "memo-taskrunner"), "serve"], env=_serve_env(tmp_path, sqlite_url, port),
                            cwd=tmp_path, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, log)
        answer = httpx.get(f"http://127.0.0.1:{port}/runtask/{task_id}", timeout=240,
                           headers={"Authorization": "Bearer test-token"})
        assert answer.status_code == 200, answer.text
        _wait_for(r"catch-up of night \d{4}-01-01 ended Completed", log, proc)
        text = _wait_for(r"Your deployments are being served", log, proc)
        servers = TEMPORARY_SERVER.findall(text)
        assert len(servers) == 1, text[-4000:]  # one, started before any thread; the child uses it too
        base = servers[0]
        assert f"POST {base}/api/deployments/ \"HTTP/1.1 201" in text  # the child registered its deployments
        refused = httpx.post(f"{base}/api/block_documents/filter", json={"include_secrets": True}, timeout=10)
        assert refused.status_code == 401, refused.text
        assert httpx.get(f"{base}/api/health", timeout=10).status_code == 200
        time.sleep(2)
        assert proc.poll() is None
    finally:
        stop_process_group(proc)
    output = log.read_text(errors="replace")
    assert (tmp_path / "exports" / "abccorp" / "temp.xml").read_text() == "<temp/>\n"
    assert "Prefect could not run task" not in output and "failed to record" not in output, output[-4000:]
    assert "401 Unauthorized" not in output, output[-4000:]


PRINT_AUTH = (
    "import json, os\n"
    "from flows.prefect_settings import prefect_environment\n"
    "prefect_environment()\n"
    "from prefect.settings import get_current_settings\n"
    "s = get_current_settings()\n"
    "secret = lambda v: v.get_secret_value() if v else None\n"
    "print(json.dumps([os.environ.get('PREFECT_SERVER_API_AUTH_STRING'), secret(s.server.api.auth_string),"
    " secret(s.api.auth_string)]))\n"
)


def _auth_after_prefect_environment(**env: str) -> list:
    base = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": "/nonexistent-home", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PRINT_AUTH], env={**base, **env}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_temporary_server_gets_an_auth_string_per_process_unless_the_operator_set_one(tmp_path):
    home = {"PREFECT_HOME": str(tmp_path / "prefect")}
    first = _auth_after_prefect_environment(**home)
    second = _auth_after_prefect_environment(**home)
    for seen in (first, second):
        assert seen[0] and seen[0] == seen[1] == seen[2]  # server and client agree, and Prefect sees it
        assert re.fullmatch(r"memo:[A-Za-z0-9_-]{40,}", seen[0])
    assert first[0] != second[0]
    # the operator's own string is kept, for the server and its clients
    assert _auth_after_prefect_environment(PREFECT_SERVER_API_AUTH_STRING="ops:chosen", **home) == ["ops:chosen"] * 3
    # a real server (PREFECT_API_URL): nothing is added; its auth comes from secrets.env
    assert _auth_after_prefect_environment(PREFECT_API_URL="http://127.0.0.1:9/api", **home) == [None, None, None]
