"""``make demo``'s set-up on a shared host (issue 15): the sample library and its reader are named
per demo folder (per checkout), so one checkout's demo never re-keys another's; the demo's own
settings beat ``MEMO_*`` in the environment; its Prefect state stays in its folder, not in
``~/.prefect``; and it leaves ``env``, read alike by a shell and systemd, with which the other
commands work on the demo's data.

Real MariaDB on 127.0.0.1:3306 (MEMO_TEST_MARIADB_URL, MEMO_TEST_SKIP_MARIADB as in conftest.py),
a real ``memo-taskrunner demo`` run in a subprocess (its temporary Prefect server included), in
containers when DOCKER_HOST is set, else in the process sandbox.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import mysql.connector
import pytest

from flows.prefect_settings import keep_prefect_state_in
from cli.demo.run import (
    LOCAL_IMAGE,
    create_sample_library,
    demo_settings,
    drop_sample_library,
    library_names,
    write_env_file,
)
from cli.demo.samples import LibraryAccess
from memo.errors import ConfigError
from memo.secrets_file import read_env_file as systemd_environment_file  # EnvironmentFile='s rules

MARIADB_URL = os.environ.get("MEMO_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306")
CLI = str(Path(sys.executable).with_name("memo-taskrunner"))
DAY = dt.date(2026, 3, 31)
DUE_FILES = {"abccorp/titles.xml", "unipress/titles.csv", "openlib/titles.json", "abccorp/new_books.rss",
             "unipress/catalogue.html"}
NOWHERE = LibraryAccess("127.0.0.1", 3306, "memo_demo_reader", "not-a-password", "memo_demo_library")


def needs_mariadb():
    if os.environ.get("MEMO_TEST_SKIP_MARIADB") == "1" and os.environ.get("CI") != "true":
        pytest.skip("MEMO_TEST_SKIP_MARIADB=1")


def reads_the_library(access: LibraryAccess) -> int:
    connection = mysql.connector.connect(
        host=access.host, port=access.port, user=access.user, password=access.password,
        database=access.database, use_pure=True,
    )
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*) FROM book")
        return cursor.fetchone()[0]
    finally:
        connection.close()


# --- names per checkout -----------------------------------------------------------------


def test_two_checkouts_get_their_own_library_names(tmp_path, monkeypatch):
    one, other = tmp_path / "one" / "var" / "demo", tmp_path / "other" / "var" / "demo"
    assert library_names(one) != library_names(other)
    assert set(library_names(one).values()).isdisjoint(library_names(other).values())
    monkeypatch.chdir(tmp_path / "..")
    relative = Path(tmp_path.name) / "one" / "var" / "demo"
    assert library_names(relative) == library_names(one)  # the absolute path counts
    for name in library_names(one).values():
        assert len(name) <= 32 and name.replace("_", "").isalnum()  # MySQL's limit for a user


def test_one_checkouts_demo_leaves_the_others_reader_alone(tmp_path):
    """Seen before: another checkout's demo reset the shared reader's password ("Access denied")."""
    needs_mariadb()
    mine, theirs = library_names(tmp_path / "mine"), library_names(tmp_path / "theirs")
    try:
        my_access = create_sample_library(MARIADB_URL, **mine)
        their_first = create_sample_library(MARIADB_URL, **theirs)
        their_second = create_sample_library(MARIADB_URL, **theirs)  # their demo runs again
        assert (my_access.database, my_access.user) != (their_second.database, their_second.user)
        assert reads_the_library(my_access) > 0  # my password still works
        assert reads_the_library(their_second) == reads_the_library(my_access)
        with pytest.raises(mysql.connector.errors.ProgrammingError, match="Access denied"):
            reads_the_library(their_first)  # a re-run does re-key its own reader
    finally:
        drop_sample_library(MARIADB_URL, **mine)
        drop_sample_library(MARIADB_URL, **theirs)


# --- the demo's settings ------------------------------------------------------------------


def test_the_demos_own_settings_beat_the_environment(tmp_path, monkeypatch):
    """The demo drops and re-seeds its database: an operator's MEMO_DATABASE_URL must not be it."""
    elsewhere = tmp_path / "production.sqlite"
    monkeypatch.setenv("MEMO_DATABASE_URL", f"sqlite:///{elsewhere}")
    monkeypatch.setenv("MEMO_SANDBOX", "docker")
    monkeypatch.setenv("MEMO_EXPORTS_DIR", str(tmp_path / "exports"))
    monkeypatch.delenv("MEMO_DOCKER_IMAGE", raising=False)
    root = tmp_path / "demo"
    settings, why = demo_settings(root, "process", NOWHERE)
    assert settings.database_url == f"sqlite:///{root / 'memo-demo.sqlite'}"
    assert settings.exports_dir == root / "exports" and settings.work_dir == root / "work"
    assert settings.sandbox == "process" and why == "asked for process"
    assert settings.docker_image == LOCAL_IMAGE
    monkeypatch.setenv("MEMO_DOCKER_IMAGE", "registry.example/memo:1")  # the operator's image wins
    assert demo_settings(root, "process", NOWHERE)[0].docker_image == "registry.example/memo:1"


def test_an_operators_prefect_home_or_api_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    for key in ("PREFECT_HOME", "PREFECT_API_URL", "PREFECT_PROFILES_PATH"):
        monkeypatch.delenv(key, raising=False)
    demo_home = tmp_path / "var" / "demo" / "prefect"
    environ: dict[str, str] = {}
    assert keep_prefect_state_in(demo_home, environ) and environ == {"PREFECT_HOME": str(demo_home)}
    for theirs in ({"PREFECT_HOME": "/srv/prefect"}, {"PREFECT_API_URL": "http://127.0.0.1:4200/api"}):
        environ = dict(theirs)
        assert not keep_prefect_state_in(demo_home, environ) and environ == theirs
    profile = tmp_path / "home" / ".prefect" / "profiles.toml"
    profile.parent.mkdir(parents=True)
    profile.write_text('active = "mine"\n[profiles.mine]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n')
    environ = {}
    assert not keep_prefect_state_in(demo_home, environ) and environ == {}


def test_a_value_the_shell_and_systemd_would_read_differently_is_refused(tmp_path):
    for value in ("it's", 'say "x"', "a\\b", "$HOME", "`id`", "two\nlines"):
        with pytest.raises(ConfigError, match="cannot write"):
            write_env_file(tmp_path / "env", {"MEMO_WORK_DIR": value})
    assert not (tmp_path / "env").exists()


# --- a whole demo run ----------------------------------------------------------------------


def clean_environment(home: Path) -> dict[str, str]:
    """The test process's environment without Prefect's or the runner's settings, HOME elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MEMO_"))}
    env.update(HOME=str(home), MEMO_DEMO_LIBRARY_ADMIN_URL=MARIADB_URL)
    return env


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``memo-taskrunner demo`` in a checkout-like folder, with HOME pointed at an empty folder."""
    needs_mariadb()
    base = tmp_path_factory.mktemp("demo-run")
    checkout, home = base / "checkout", base / "home"
    checkout.mkdir()
    home.mkdir()
    sandbox = "docker" if os.environ.get("DOCKER_HOST") else "process"
    env = clean_environment(home)
    done = subprocess.run(
        [CLI, "demo", "--sandbox", sandbox, "--date", DAY.isoformat()],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=900,
    )
    folder = checkout / "var" / "demo"
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        yield {"checkout": checkout, "home": home, "folder": folder, "sandbox": sandbox, "env": env,
               "stdout": done.stdout}
    finally:
        drop_sample_library(MARIADB_URL, **library_names(folder))


def test_the_demo_keeps_its_prefect_state_under_var_not_home(demo_run):
    assert [p for p in demo_run["home"].rglob("*")] == []  # no ~/.prefect, nothing at all
    prefect_home = demo_run["folder"] / "prefect"
    assert (prefect_home / "prefect.db").stat().st_size > 0
    assert systemd_environment_file(demo_run["folder"] / "env")["PREFECT_HOME"] == str(prefect_home)


def test_the_demo_uses_the_library_named_for_its_folder(demo_run):
    names = library_names(demo_run["folder"])
    assert f"sample library {names['database']} on 127.0.0.1:3306, read-only account {names['reader']}" \
        in demo_run["stdout"]
    assert "demo: all tasks succeeded" in demo_run["stdout"]
    assert "set -a; . var/demo/env; set +a" in demo_run["stdout"]  # relative to where it ran


def bash_sourced(path: Path, cwd: Path) -> dict[str, str]:
    script = f"set -a; . {shlex.quote(str(path))}; set +a; env -0"
    done = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, env={"PATH": "/usr/bin:/bin"},
                          check=True)
    assert done.stderr == b"", done.stderr.decode()
    pairs = (item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith(("MEMO_", "PREFECT_", "DOCKER_"))}


def test_the_env_file_reads_the_same_in_bash_and_systemd(demo_run):
    path = demo_run["folder"] / "env"
    by_systemd = systemd_environment_file(path)
    assert by_systemd == bash_sourced(path, demo_run["checkout"])
    folder = demo_run["folder"]
    assert by_systemd["MEMO_DATABASE_URL"] == f"sqlite:///{folder / 'memo-demo.sqlite'}"
    assert by_systemd["MEMO_EXPORTS_DIR"] == str(folder / "exports")
    assert by_systemd["MEMO_SANDBOX"] == demo_run["sandbox"]
    assert by_systemd["MEMO_DOCKER_IMAGE"] == LOCAL_IMAGE
    assert by_systemd["MEMO_CONTAINER_ALLOW"] == "127.0.0.1:3306"
    if demo_run["sandbox"] == "docker":
        assert by_systemd["DOCKER_HOST"] == os.environ["DOCKER_HOST"]
    else:
        assert "DOCKER_HOST" not in by_systemd


def with_the_env_file(demo_run, *args: str) -> subprocess.CompletedProcess:
    """A command as the README has it: ``set -a; . var/demo/env; set +a; .venv/bin/memo-taskrunner …``."""
    script = "set -a; . var/demo/env; set +a; exec " + " ".join(map(shlex.quote, [CLI, *args]))
    env = {k: v for k, v in demo_run["env"].items() if k != "DOCKER_HOST"}  # the file must bring it
    return subprocess.run(["bash", "-c", script], cwd=demo_run["checkout"], env=env, capture_output=True,
                          text=True, timeout=300)


def test_due_and_run_task_with_the_env_file_work_on_the_demos_data(demo_run):
    due = with_the_env_file(demo_run, "due", "--date", DAY.isoformat(), "--json")
    assert due.returncode == 0, due.stderr
    tasks = json.loads(due.stdout)
    assert {f"{t['username']}/{t['file_name']}" for t in tasks} == DUE_FILES
    csv = next(t for t in tasks if t["file_name"] == "titles.csv")
    run = with_the_env_file(demo_run, "run-task", csv["id"], "--dry-run")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["idTask"] == csv["id"] and result["success"] is True
    exports = demo_run["folder"] / "exports"  # the dry run's file, the same rows as the night's
    assert (exports / "tmp" / "unipress_titles.csv").read_bytes() == (exports / "unipress" / "titles.csv").read_bytes()
