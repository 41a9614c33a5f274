"""What a newcomer meets first: no database yet, an empty one, no container engine.

Each is a permanent condition, said at once as what it is, with where to look; never
"unreachable after 3 attempts". ``run-task`` ends with MEMO's TaskResult on every path.
Real processes, the real MariaDB.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import _mariadb_database

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd, env=None):
    """The CLI as a newcomer runs it: none of this shell's MEMO_* or engine settings."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "DOCKER_"))}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env or {})
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True,
                         env=full_env, cwd=cwd, timeout=120)
    return out, time.monotonic() - started


def task_result(out) -> dict:
    lines = out.stdout.strip().splitlines()
    assert lines, f"no stdout; stderr: {out.stderr}"
    result = json.loads(lines[-1])
    assert set(result) == {"idTask", "message", "dateTime", "output", "success"}
    return result


def said_at_once(out, elapsed: float) -> None:
    assert "retrying" not in out.stderr and "attempts" not in out.stderr, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert elapsed < 10, elapsed  # a retried error takes 1 + 2 s of back-off on top


@pytest.fixture
def empty_mariadb():
    """A MariaDB database that exists and holds no MEMO tables (a URL naming the wrong one)."""
    admin, name, url = _mariadb_database()
    yield url, name
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    admin.dispose()


def test_a_fresh_clone_without_a_database_is_told_so_at_once(tmp_path):
    # The default URL is sqlite:///var/memo.sqlite; a fresh clone has no var/ yet.
    out, elapsed = cli("due", cwd=tmp_path)
    assert out.returncode == 1
    said_at_once(out, elapsed)
    assert "cannot open the MEMO database SQLite file var/memo.sqlite" in out.stderr
    assert "MEMO_DATABASE_URL" in out.stderr and "memo-taskrunner doctor" in out.stderr

    out, elapsed = cli("run-task", "1", cwd=tmp_path, env={"MEMO_SANDBOX": "process"})
    assert out.returncode == 1
    said_at_once(out, elapsed)
    result = task_result(out)
    assert result["success"] is False and result["idTask"] == "1"
    assert "cannot open the MEMO database" in result["message"]
    assert result["message"].count("cannot open") == 1  # the runlog's refusal is not said twice


def test_an_empty_sqlite_file_has_its_tables_missing(tmp_path):
    (tmp_path / "var").mkdir()
    out, elapsed = cli("due", cwd=tmp_path)
    assert out.returncode == 1
    said_at_once(out, elapsed)
    assert "MEMO's tables are missing in SQLite file var/memo.sqlite" in out.stderr
    assert "no such table: task" in out.stderr


@pytest.mark.mariadb
def test_a_mariadb_database_without_memo_tables(tmp_path, empty_mariadb):
    url, name = empty_mariadb
    env = {"MEMO_DATABASE_URL": url, "MEMO_SANDBOX": "process"}
    out, elapsed = cli("due", cwd=tmp_path, env=env)
    assert out.returncode == 1
    said_at_once(out, elapsed)
    assert f"MEMO's tables are missing in 127.0.0.1:3306/{name}" in out.stderr

    out, elapsed = cli("run-task", "7", cwd=tmp_path, env=env)
    assert out.returncode == 1
    said_at_once(out, elapsed)
    result = task_result(out)
    assert result["success"] is False and "MEMO's tables are missing" in result["message"]
    assert "doctor" in result["message"]


def test_run_task_ends_with_a_task_result_on_a_configuration_error(tmp_path):
    out, _ = cli("run-task", "42", cwd=tmp_path, env={"MEMO_HTTP_PORT": "abc"})
    assert out.returncode == 2
    result = task_result(out)
    assert result["success"] is False and result["idTask"] == "42"
    assert result["message"].startswith("configuration error:") and "MEMO_HTTP_PORT" in result["message"]


def test_the_orphan_check_names_the_missing_socket_and_the_setting(tmp_path):
    socket_path = tmp_path / "no-engine" / "docker.sock"
    out, _ = cli("run-task", "1", cwd=tmp_path,
                 env={"MEMO_SANDBOX": "docker", "DOCKER_HOST": f"unix://{socket_path}"})
    line = next(line for line in out.stderr.splitlines() if "orphaned containers" in line)
    assert f"no socket at {socket_path}" in line
    assert "MEMO_CONTAINER_DOCKER_HOST" in line and "DOCKER_HOST" in line
    assert "FileNotFoundError" not in line and "Connection aborted" not in line
    task_result(out)


def test_a_passing_test_session_leaves_no_files_behind(tmp_path):
    """pytest keeps the last runs' temporary folders by default (hundreds of MB after the
    suite's large-output tests): the project's configuration drops a passing test's."""
    tests = tmp_path / "probe"
    tests.mkdir()
    (tests / "test_probe.py").write_text(
        "def test_writes_a_large_file(tmp_path):\n"
        "    (tmp_path / 'big').write_bytes(b'x' * 5_000_000)\n"
    )
    temproot = tmp_path / "temproot"
    temproot.mkdir()
    env = {**os.environ, "PYTEST_DEBUG_TEMPROOT": str(temproot)}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tests), str(tests)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    left = sum(p.stat().st_size for p in temproot.rglob("*") if p.is_file())
    assert left < 100_000, left
