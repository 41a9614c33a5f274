"""MEMO tasks end to end through the runner with the docker sandbox (real containers).

A task whose script imports its own query module and library sniplets runs in a
container and its export is exact; a script reading the MEMO database on the host
through mysql-connector (network host) works; and a script over its memory limit,
under the pids limit, or past its timeout fails cleanly, leaves no container, and
leaves the previous export untouched.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from memo.runner import Runner
from tests.conftest import unguarded_policy
from tests.docker.conftest import docker_settings
from tests.samples import library_task_export, seed_library_task

pytestmark = pytest.mark.docker



def managed(api, task_id):
    return api.containers(all=True, filters={"label": f"org.oapen.memo.task-id={task_id}"})


@pytest.fixture
def docker_runner(tmp_path, database_url):
    runner = Runner(docker_settings(tmp_path, database_url=database_url, timeout=60))
    yield runner
    runner.db.dispose()


def test_task_with_query_module_and_sniplets_runs_in_a_container_exactly(memo, docker_runner, api):
    settings = docker_runner.settings
    titles = "SELECT title FROM books WHERE note = 'naïve'"
    task_id = seed_library_task(memo, titles)

    outcome = docker_runner.run_task(task_id)

    assert outcome.success, outcome.message
    expected = library_task_export(titles)
    assert (settings.exports_dir / "abccorp" / "mytask.xml").read_bytes() == expected
    assert outcome.bytes_written == len(expected)
    assert [(r.is_success, r.message) for r in memo.runlog(task_id)] == [(True, "OK")]
    assert managed(api, task_id) == []


MYSQL_SNIPLET = """\
import mysql.connector

def connect():
    return mysql.connector.connect(host={host!r}, port={port}, user={user!r}, password={password!r},
                                   database={database!r})
"""
MYSQL_MAIN = '''\
from queries.abccorp import names_txt as mainquery
from sniplets import mysql_connect

conn = mysql_connect.connect()
cursor = conn.cursor()
cursor.execute(mainquery.query)
for (name,) in cursor:
    print(name)
conn.close()
'''


@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
def test_script_reads_the_database_on_the_host_with_mysql_connector(memo, tmp_path, database_url, api):
    url = sa.engine.make_url(database_url)
    # As MEMO's own mysql_connect sniplet does: the connection details are in its text.
    memo.sniplet("mysql_connect", MYSQL_SNIPLET.format(
        host=url.host or "127.0.0.1", port=url.port or 3306, user=url.username or "root",
        password=url.password or "", database=url.database,
    ))
    task_id = memo.task("abccorp", "names.txt", MYSQL_MAIN, sql="SELECT name FROM script ORDER BY name")
    runner = Runner(docker_settings(tmp_path, database_url=database_url, network="host"))
    try:
        outcome = runner.run_task(task_id)
        assert outcome.success, outcome.message
        export = runner.settings.exports_dir / "abccorp" / "names.txt"
        assert export.read_text() == "abccorp:names_txt\nmysql_connect\n"

    finally:
        runner.db.dispose()
    # The default, network none: the sniplet reaches it unchanged through the allow-list.
    export.unlink()
    runner = Runner(docker_settings(tmp_path, database_url=database_url))
    try:
        outcome = runner.run_task(task_id)
        assert outcome.success, outcome.message
        assert export.read_text() == "abccorp:names_txt\nmysql_connect\n"
    finally:
        runner.db.dispose()
    # Network none with an empty allow-list cannot reach it, and fails cleanly.
    runner = Runner(docker_settings(tmp_path, database_url=database_url, allow=""))
    try:
        outcome = runner.run_task(task_id)
        assert not outcome.success
        assert "Can't connect" in outcome.message or "2003" in outcome.message
        assert export.read_text() == "abccorp:names_txt\nmysql_connect\n"  # untouched
    finally:
        runner.db.dispose()
    assert managed(api, task_id) == []


FAILURES = {
    "memory": ("chunks = [bytearray(8 << 20) for _ in range(64)]\nprint('never')\n", "out of memory"),
    "pids": (
        "import threading, time\n"
        "while True:\n"
        "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n",
        "can't start new thread",
    ),
    "timeout": ("import time\nprint('partial', flush=True)\ntime.sleep(120)\n", "timed out after 4 s"),
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("case", sorted(FAILURES))
def test_failing_scripts_keep_the_previous_export_and_leave_no_container(memo, tmp_path, database_url, api, case):
    # The subject is the container's limits, not the guard (which refuses threading itself).
    runner = Runner(docker_settings(tmp_path, database_url=database_url, timeout=4, memory="64m", pids_limit=32),
                    policy=unguarded_policy())
    try:
        task_id = memo.task("abccorp", "mytask.xml", "print('v1')")
        assert runner.run_task(task_id).success
        export = runner.settings.exports_dir / "abccorp" / "mytask.xml"
        assert export.read_bytes() == b"v1\n"

        body, words = FAILURES[case]
        memo.execute("UPDATE script SET body = :body WHERE name = 'abccorp:mytask_xml'", body=body)
        outcome = runner.run_task(task_id)

        assert not outcome.success
        assert words in outcome.message, outcome.message
        assert export.read_bytes() == b"v1\n"
        rows = memo.runlog(task_id)
        assert [r.is_success for r in rows] == [True, False] and words in rows[-1].message
        assert managed(api, task_id) == []
    finally:
        runner.db.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("broken", ["image", "engine"])
def test_missing_image_or_engine_fails_the_task_clearly_and_the_next_task_still_runs(
    memo, tmp_path, database_url, broken
):
    settings = docker_settings(tmp_path, database_url=database_url)
    if broken == "image":
        settings.docker_image = "localhost/memo-no-such-image:0"
    else:
        settings.container.docker_host = f"unix://{tmp_path}/no-engine.sock"
    runner = Runner(settings)
    try:
        first = memo.task("abccorp", "one.txt", "print(1)")
        second = memo.task("abccorp", "two.txt", "print(2)")
        outcomes = [runner.run_task(first), runner.run_task(second)]
    finally:
        runner.db.dispose()
    words = "memo-no-such-image" if broken == "image" else "unreachable"
    for outcome, task_id in zip(outcomes, (first, second)):
        assert not outcome.success and outcome.kind == "sandbox"
        assert words in outcome.message
        assert [r.is_success for r in memo.runlog(task_id)] == [False]
    # doctor reports the same problem
    from memo.doctor import run_checks

    [found] = [c.problems for c in run_checks(settings) if c.problems and c.name != "database"]
    assert words in found[0]
