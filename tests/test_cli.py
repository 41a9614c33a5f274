"""The command line as operators and MEMO Manager use it: real processes, real databases."""

import datetime as dt
import json
import os
import subprocess
import sys

import pytest


def cli(*args, env=None, **kw):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MEMO_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True,
                          env=full_env, timeout=120, **kw)


@pytest.fixture
def env(tmp_path, database_url):
    return {
        "MEMO_DATABASE_URL": database_url,
        "MEMO_EXPORTS_DIR": str(tmp_path / "exports"),
        "MEMO_WORK_DIR": str(tmp_path / "work"),
        "MEMO_SANDBOX": "process",
    }


def test_due_json(memo, env):
    daily = memo.task("abccorp", "a.xml", frequency="D", start_date=dt.date(2024, 1, 1))
    weekly = memo.task("abccorp", "b.xml", frequency="W", start_date=dt.date(2024, 1, 1))
    memo.task("abccorp", "c.xml", frequency="D", start_date=dt.date(2024, 1, 1), is_active=False)
    memo.task("abccorp", "d.xml", frequency="D", start_date=dt.date(2030, 1, 1))
    out = cli("due", "--date", "2024-01-08", "--json", env=env)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {r["id"] for r in rows} == {daily, weekly}
    assert set(rows[0]) >= {"id", "username", "file_name", "frequency", "start_date"}
    out = cli("due", "--date", "2024-01-09", "--json", env=env)
    assert [r["id"] for r in json.loads(out.stdout)] == [daily]


def test_run_task_prints_task_result_last(memo, env, tmp_path):
    ok = memo.task("abccorp", "a.xml", "print('<a/>')")
    out = cli("run-task", ok, env=env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["idTask"] == ok and result["success"] is True and result["message"] == "OK"
    assert result["output"] is None
    dt.datetime.fromisoformat(result["dateTime"])
    assert (tmp_path / "exports" / "abccorp" / "a.xml").read_text() == "<a/>\n"
    bad = memo.task("abccorp", "b.xml", "raise SystemExit(4)")
    out = cli("run-task", bad, "--dry-run", env=env)
    assert out.returncode == 1
    assert json.loads(out.stdout.splitlines()[-1])["success"] is False


def test_bad_setting_is_one_clear_line(env):
    out = cli("due", env={**env, "MEMO_HTTP_PORT": "abc"})
    assert out.returncode == 2
    assert "MEMO_HTTP_PORT" in out.stderr and "Traceback" not in out.stderr


def test_dead_database_is_a_clear_error(tmp_path):
    out = cli("due", env={"MEMO_DATABASE_URL": "mysql+pymysql://root@127.0.0.1:1/oapen_memo"})
    assert out.returncode == 1
    assert "unreachable" in out.stderr and "Traceback" not in out.stderr


def test_doctor_reports_what_is_wrong(tmp_path, env):
    out = cli("doctor", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    out = cli("doctor", env={**env, "MEMO_DATABASE_URL": f"sqlite:///{tmp_path}/empty.sqlite"})
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAIL  database: " in out.stdout and "tables homedir, query, script, task, runlog are missing" in out.stdout


def test_config_table_shows_each_value_its_source_and_no_secret(tmp_path):
    spring = tmp_path / "application.properties"
    spring.write_text("server.port=8090\ndocker.image.python=oapen/img\n"
                      "spring.datasource.url=jdbc:mysql://db.example:3306/oapen_memo\n"
                      "spring.datasource.username=memo\nspring.datasource.password=spring-pw-31c7\n")
    env = {"MEMO_HTTP_PORT": "9000", "MEMO_HTTP_TOKEN": "tok-8d1e",
           "MEMO_CONTAINER_ENVIRONMENT": '{"LIBRARY_DB_PASSWORD": "lib-pw-5a0b"}'}
    out = cli("--config", str(spring), "config", "--table", env=env)
    assert out.returncode == 0, out.stderr
    rows = {cells[1].strip("`"): cells[2:4] for line in out.stdout.splitlines() if line.startswith("| `MEMO_")
            for cells in [[c.strip() for c in line.split("|")]]}
    assert rows["MEMO_HTTP_PORT"] == ["`9000`", "environment"]  # the environment beats server.port
    assert rows["MEMO_DOCKER_IMAGE"] == ["`oapen/img`", "spring file (docker.image.python)"]
    assert rows["MEMO_CONCURRENCY"] == ["`2`", "default"]
    assert rows["MEMO_HTTP_TOKEN"] == ["`***`", "environment"]
    assert f"Spring file: {spring} (--config)" in out.stdout
    assert "Prefect Blocks (blocks/) are not a source" in out.stdout
    as_json = cli("config", env={**env, "MEMO_CONFIG": str(spring)})
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["sources"]["http_port"] == "environment"
    for secret in ("spring-pw-31c7", "tok-8d1e", "lib-pw-5a0b"):
        assert secret not in out.stdout + out.stderr + as_json.stdout + as_json.stderr


@pytest.mark.parametrize("command", [["due", "--help"], ["guard", "--help"]])
def test_fast_commands_do_not_import_prefect(command):
    code = (
        "import sys; from cli.main import main\n"
        f"try:\n    main({command!r})\nexcept SystemExit:\n    pass\n"
        "print('prefect' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
