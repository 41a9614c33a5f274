"""Concurrency: 20 tasks writing into one client's folder at once; an HTTP run and the nightly
run of the same task at the same moment; two nightly runners started on one host by mistake.

The HTTP API is the real uvicorn server (tests/api's ``live_server``); the nightly runs are
real ``memo-taskrunner nightly`` processes talking to this package's Prefect API. The
scripts that must be "in the middle" wait, on their own database connection, for the
test's go-ahead (a ``release`` row), so no test depends on timing.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from memo.runner import Runner
from tests.faults.conftest import containers_of, partial_files, settings_for, wait_for

pytestmark = pytest.mark.mariadb

NIGHT = dt.date(2024, 5, 15)


# --- 20 tasks, one client's folder, at once --------------------------------------------------------

WRITER = """\
import sys, time
for i in range(64):
    sys.stdout.write("{n:02d} %02d " % i + "{n:02d}" * 2000 + "\\n")
    if i % 16 == 0:
        sys.stdout.flush()
        time.sleep(0.01)
"""


def expected(n: int) -> str:
    return "".join(f"{n:02d} {i:02d} " + f"{n:02d}" * 2000 + "\n" for i in range(64))


@pytest.mark.parametrize("sandbox", ["process", pytest.param("docker", marks=[pytest.mark.docker,
                                                                                pytest.mark.slow])])
def test_twenty_tasks_write_one_clients_folder_at_once(memo, tmp_path, database_url, sandbox):
    ids = {memo.task("abccorp", f"part{n:02d}.txt", WRITER.format(n=n)): n for n in range(20)}
    settings = settings_for(tmp_path, database_url, sandbox, concurrency=20)
    runner = Runner(settings)  # shared by the threads, as the nightly flow shares it
    start = threading.Barrier(20)

    def run(task_id):
        start.wait()
        return runner.run_task(task_id)

    try:
        with ThreadPoolExecutor(20) as pool:
            outcomes = list(pool.map(run, ids))
    finally:
        runner.db.dispose()
    assert [o.message for o in outcomes if not o.success] == []
    folder = settings.exports_dir / "abccorp"
    assert sorted(os.listdir(folder)) == [f"part{n:02d}.txt" for n in range(20)]
    for task_id, n in ids.items():
        assert (folder / f"part{n:02d}.txt").read_text() == expected(n), n
        assert [bool(r.is_success) for r in memo.runlog(task_id)] == [True]
    assert partial_files(settings) == []
    assert not any(p.name.startswith("run-") for p in settings.work_dir.iterdir())
    if sandbox == "docker":
        assert all(containers_of(task_id) == [] for task_id in ids)


# --- one task, two ways in, the same moment ----------------------------------------------------------

# 20 lines, a wait for the go-ahead, 20 more: a second run writing the same export meanwhile
# would show as mixed tokens or a wrong count.
WAIT_FOR_RELEASE = """\
import sys, time, uuid
import mysql.connector
token = uuid.uuid4().hex
for i in range(20):
    print(token, i, flush=True)
conn = mysql.connector.connect(host={host!r}, port={port}, user={user!r}, password={password!r},
                               database={db!r}, autocommit=True, use_pure=True)
cur = conn.cursor()
deadline = time.time() + 90
while time.time() < deadline:
    cur.execute("SELECT COUNT(*) FROM query WHERE name = 'release'")
    if cur.fetchone()[0]:
        break
    time.sleep(0.05)
for i in range(20, 40):
    print(token, i, flush=True)
"""


def waiting_script(url: str) -> str:
    u = sa.engine.make_url(url)
    return WAIT_FOR_RELEASE.format(host=u.host, port=u.port or 3306, user=u.username,
                                   password=u.password or "", db=u.database)


def one_whole_version(path: Path) -> str:
    """The export's token, after checking it is one run's complete output."""
    lines = path.read_text().splitlines()
    tokens = {line.split()[0] for line in lines}
    assert len(tokens) == 1, f"{len(tokens)} runs mixed in one export"
    assert [int(line.split()[1]) for line in lines] == list(range(40)), "an incomplete export"
    return tokens.pop()


def holds_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (a runner waiting on, or holding, a lock)."""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def task_lock_path(settings, task_id: str) -> Path:
    import hashlib

    return settings.work_dir / "locks" / f"task-{hashlib.sha256(task_id.encode()).hexdigest()[:32]}.lock"


@pytest.fixture
def http(tmp_path):
    """``http(settings) -> base URL``: the real API server (direct runs, answers 409 at once)."""
    from api.app import create_app
    from api.runs import DirectRuns
    from tests.api.conftest import live_server

    stack = []

    def start(settings):
        runs = DirectRuns(settings)
        server = live_server(create_app(settings, runs, lock_wait=0.0))
        stack.append((server, runs))
        return server.__enter__()

    yield start
    for server, runs in stack:
        server.__exit__(None, None, None)
        runs.close()


@pytest.mark.slow
def test_nightly_first_then_http_is_told_busy(memo, tmp_path, database_url, cli, http, prefect_harness):
    task_id = memo.task("abccorp", "shared.txt", waiting_script(database_url))
    settings = settings_for(tmp_path, database_url, busy_hours=0)
    base = http(settings)
    night = cli(settings, "nightly", "--date", NIGHT.isoformat(), PREFECT_API_URL=prefect_harness)
    wait_for(lambda: any(p.stat().st_size for p in partial_files(settings)) or night.poll() is not None,
             120, "the nightly run to be writing the export")
    assert night.poll() is None, night.communicate()

    response = httpx.get(f"{base}/runtask/{task_id}", timeout=60)
    assert response.status_code == 409
    body = response.json()
    assert body["success"] is False and "already running" in body["message"]

    memo.query("release", "SELECT 1")
    out, err = night.communicate(timeout=120)
    assert night.returncode == 0, err[-3000:]
    one_whole_version(settings.exports_dir / "abccorp" / "shared.txt")
    # one run completed, one row; the refused request ran nothing and logged nothing
    assert [bool(r.is_success) for r in memo.runlog(task_id)] == [True]
    assert partial_files(settings) == []


@pytest.mark.slow
def test_http_first_then_the_nightly_waits_and_runs_after(memo, tmp_path, database_url, cli, http,
                                                         prefect_harness):
    task_id = memo.task("abccorp", "shared.txt", waiting_script(database_url))
    settings = settings_for(tmp_path, database_url, busy_hours=0)
    base = http(settings)
    answer = {}
    request = threading.Thread(
        target=lambda: answer.update(r=httpx.get(f"{base}/runtask/{task_id}", timeout=120)))
    request.start()
    wait_for(lambda: any(p.stat().st_size for p in partial_files(settings)), 60, "the HTTP run to be writing")

    night = cli(settings, "nightly", "--date", NIGHT.isoformat(), PREFECT_API_URL=prefect_harness)
    lock = task_lock_path(settings, task_id)
    wait_for(lambda: holds_open(night.pid, lock) or night.poll() is not None, 120,
             "the nightly run to wait on the task's lock")
    assert night.poll() is None, night.communicate()
    assert len(partial_files(settings)) == 1  # it waits: it has not started a second export

    memo.query("release", "SELECT 1")
    request.join(120)
    assert answer["r"].status_code == 200, answer["r"].text
    out, err = night.communicate(timeout=120)
    assert night.returncode == 0, err[-3000:]
    one_whole_version(settings.exports_dir / "abccorp" / "shared.txt")
    # two runs, one after the other, two rows
    assert [bool(r.is_success) for r in memo.runlog(task_id)] == [True, True]
    assert partial_files(settings) == []


# --- two nightly runners on one host -------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_nightly_runner_on_the_host_is_refused(memo, tmp_path, database_url, cli, prefect_harness):
    """Both started at once. Whichever takes the night first holds it until the test lets its
    waiting task finish, so the other is refused whenever it arrives: no timing involved."""
    waiting = memo.task("abccorp", "a_waits.txt", waiting_script(database_url))
    quick = memo.task("abccorp", "b_quick.txt", "print('quick')")
    settings = settings_for(tmp_path, database_url, concurrency=1)
    runners = [cli(settings, "nightly", "--date", NIGHT.isoformat(), PREFECT_API_URL=prefect_harness)
               for _ in range(2)]
    refused = wait_for(lambda: [r for r in runners if r.poll() is not None], 120, "one runner to be refused")
    assert len(refused) == 1
    loser = refused[0]
    winner = runners[1 - runners.index(loser)]
    out2, err2 = loser.communicate(timeout=30)
    assert loser.returncode == 1
    assert re.search(r"night 2024-05-15 refused: a nightly run on this host is already running", err2), err2[-3000:]
    wait_for(lambda: any(p.stat().st_size for p in partial_files(settings)), 120, "the night to be running")

    memo.query("release", "SELECT 1")
    out1, err1 = winner.communicate(timeout=120)
    assert winner.returncode == 0, err1[-3000:]
    one_whole_version(settings.exports_dir / "abccorp" / "a_waits.txt")
    assert (settings.exports_dir / "abccorp" / "b_quick.txt").read_text() == "quick\n"
    # the night ran once: one row per task
    assert [bool(r.is_success) for r in memo.runlog(waiting)] == [True]
    assert [bool(r.is_success) for r in memo.runlog(quick)] == [True]


# --- one runner's start-up clean-up racing another runner's new run -----------------------------------


class TreeLockChecked:
    """The real sandbox; checks that the run's tree is still marked live (its lock file is there)."""

    def __init__(self, inner):
        self.inner, self.name = inner, inner.name

    def run(self, job, stdout):
        assert Path(f"{job.tree}.lock").exists(), "the live tree lost its lock file: a clean-up would remove it"
        return self.inner.run(job, stdout)

    def remove_orphans(self):
        return 0

    def problems(self):
        return []


def test_a_start_up_clean_up_racing_a_new_run_cannot_break_it(memo, tmp_path, database_url, monkeypatch):
    """A second runner starts (and cleans up) at the instant a run has created its tree's lock
    file and its partial export but not yet locked them: the run must not lose either."""
    import fcntl

    from memo.exports import remove_orphan_partials
    from memo.tree import remove_orphan_trees

    task_id = memo.task("abccorp", "raced.txt", "print('whole')")
    settings = settings_for(tmp_path, database_url)
    runner = Runner(settings)
    runner.sandbox = TreeLockChecked(runner.sandbox)
    real_flock = fcntl.flock
    raced = []

    def flock(fd, operation):
        if operation == fcntl.LOCK_EX:  # a run about to lock what it has just created
            kind = "partial" if "/.partial/" in os.readlink(f"/proc/self/fd/{fd}") else "tree"
            if kind not in raced:  # once each: a clean-up is not a loop
                raced.append(kind)
                remove_orphan_trees(settings.work_dir)
                remove_orphan_partials(settings.exports_dir)
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    try:
        outcome = runner.run_task(task_id)
    finally:
        monkeypatch.undo()
        runner.db.dispose()
    assert raced == ["tree", "partial"]  # the tree's lock file and the partial export were both raced
    assert outcome.success, outcome.message
    assert (settings.exports_dir / "abccorp" / "raced.txt").read_text() == "whole\n"
    assert partial_files(settings) == []
