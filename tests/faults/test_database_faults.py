"""Database faults: MEMO's MariaDB unreachable at the start of the night, lost in the middle,
and a login that may read but not write ``runlog``.

The database is reached through a loopback TCP proxy (``TcpProxy``) the test takes down
and brings back, so "the database host went away" is real: refused connections and
pooled connections cut mid-use. Nothing is mocked below the socket.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import pytest

from memo import catchup
from memo.database import MemoDatabase
from memo.errors import DatabaseRefused, DatabaseUnavailable, InfrastructureError, OutcomeKind
from memo.runner import Runner
from tests.faults.conftest import partial_files, settings_for, wait_for

pytestmark = pytest.mark.mariadb

NIGHT = dt.date(2024, 5, 15)


def proxied(mariadb, proxy) -> str:
    return mariadb.url_via("127.0.0.1", proxy.port)


class CutAfterScript:
    """The real sandbox; the database goes away while the script runs (after it, before the runlog)."""

    def __init__(self, inner, proxy):
        self.inner, self.proxy, self.name = inner, proxy, inner.name

    def run(self, job, stdout):
        result = self.inner.run(job, stdout)
        self.proxy.down()
        return result

    def remove_orphans(self):
        return 0

    def problems(self):
        return []


class Recorder(logging.Handler):
    """The messages a logger emits (Prefect's logging set-up can keep them from caplog)."""

    def __init__(self, logger: str):
        super().__init__(logging.DEBUG)
        self.logger = logging.getLogger(logger)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def messages(self, containing: str = "") -> list[str]:
        return [r.getMessage() for r in self.records if containing in r.getMessage()]

    def __enter__(self):
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)


class UpOnRetry(logging.Handler):
    """Brings the database back as soon as the runner logs its first failed runlog attempt."""

    def __init__(self, proxy):
        super().__init__(logging.WARNING)
        self.proxy = proxy
        self.messages: list[str] = []

    def emit(self, record):
        message = record.getMessage()
        self.messages.append(message)
        if "could not write the runlog (attempt 1/" in message:
            self.proxy.up()


@pytest.fixture
def quick_runner(tmp_path):
    """``quick_runner(url, **kw) -> Runner`` with fast backoff (0.05 s, 3 attempts)."""
    made = []

    def make(url, **kwargs):
        settings = settings_for(tmp_path, url)
        runner = Runner(settings, db=MemoDatabase(url, retries=3, backoff=0.05), **kwargs)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.db.dispose()


# --- lost in the middle ---------------------------------------------------------------------


def test_lost_between_tasks_done_stays_done_next_fails_clearly(memo, mariadb, proxy, quick_runner):
    first = memo.task("abccorp", "first.xml", "print('<first/>')")
    second = memo.task("abccorp", "second.xml", "print('<second/>')")
    runner = quick_runner(proxied(mariadb, proxy))
    exports = runner.settings.exports_dir / "abccorp"

    assert runner.run_task(first).success
    proxy.down()
    with pytest.raises(DatabaseUnavailable) as caught:
        runner.run_task(second)
    message = caught.value.message
    assert message.startswith("abccorp/") or second in message
    assert "run failed" in message and "runlog row was not written" in message
    assert "MEMO database unreachable" in message and "after 3 attempts" in message
    # What was done stays done; nothing of the second task.
    assert (exports / "first.xml").read_text() == "<first/>\n"
    assert not (exports / "second.xml").exists()
    assert [bool(r.is_success) for r in memo.runlog(first)] == [True]
    assert memo.runlog(second) == []
    # The database comes back: the same runner (its pool had dead connections) carries on.
    proxy.up()
    assert runner.run_task(second).success
    assert [bool(r.is_success) for r in memo.runlog(second)] == [True]


def test_lost_during_the_script_runlog_write_is_retried(memo, mariadb, proxy, quick_runner):
    task_id = memo.task("abccorp", "mid.xml", "print('<mid/>')")
    runner = quick_runner(proxied(mariadb, proxy))
    runner.sandbox = CutAfterScript(runner.sandbox, proxy)
    watcher = UpOnRetry(proxy)
    logging.getLogger("memo.database").addHandler(watcher)
    try:
        outcome = runner.run_task(task_id)
    finally:
        logging.getLogger("memo.database").removeHandler(watcher)
    assert outcome.success, outcome.message
    assert any("could not write the runlog (attempt 1/3)" in m for m in watcher.messages), watcher.messages
    rows = memo.runlog(task_id)
    assert [(bool(r.is_success), r.message) for r in rows] == [(True, "OK")]  # written once, on the retry
    assert (runner.settings.exports_dir / "abccorp" / "mid.xml").read_text() == "<mid/>\n"


def test_lost_during_the_script_for_good_is_reported_never_dropped(memo, mariadb, proxy, quick_runner):
    task_id = memo.task("abccorp", "mid.xml", "print('<mid/>')")
    runner = quick_runner(proxied(mariadb, proxy))
    runner.sandbox = CutAfterScript(runner.sandbox, proxy)
    with Recorder("memo") as log, pytest.raises(DatabaseUnavailable) as caught:
        runner.run_task(task_id)
    message = caught.value.message
    assert message.startswith("abccorp/mid.xml: run succeeded (OK) but the runlog row was not written")
    assert "unreachable" in message and "after 3 attempts" in message
    # retried with backoff before giving up, and said so in the log at ERROR
    assert len(log.messages("could not write the runlog (attempt")) == 2
    assert any(r.levelno == logging.ERROR and "runlog NOT written for abccorp/mid.xml" in r.getMessage()
               for r in log.records)
    # The run itself happened: the export is the new one, whole.
    assert (runner.settings.exports_dir / "abccorp" / "mid.xml").read_text() == "<mid/>\n"
    assert partial_files(runner.settings) == []
    proxy.up()
    assert memo.runlog(task_id) == []


# --- a login that may not write runlog ----------------------------------------------------------


def test_login_without_runlog_rights_is_a_clear_error_not_retried(memo, tmp_path, limited_user):
    task_id = memo.task("abccorp", "ro.xml", "print('<ro/>')")
    url = limited_user("SELECT")
    runner = Runner(settings_for(tmp_path, url), db=MemoDatabase(url, retries=3, backoff=2.0))
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseRefused) as caught:
            runner.run_task(task_id)
        elapsed = time.monotonic() - started
    finally:
        runner.db.dispose()
    message = caught.value.message
    assert "runlog row was not written" in message
    assert "MEMO database refused to write the runlog" in message
    assert "INSERT command denied" in message and "runlog" in message
    assert elapsed < 2.0, "a refused INSERT is permanent: it must not be retried with backoff"
    assert not isinstance(caught.value, InfrastructureError) and not caught.value.retryable
    assert caught.value.kind is OutcomeKind.DATABASE_REFUSED
    assert memo.runlog(task_id) == []


# --- through the nightly flow --------------------------------------------------------------------


@pytest.mark.usefixtures("prefect_harness")
def test_login_without_runlog_rights_fails_the_night_once_per_task(memo, tmp_path, limited_user):
    """A refused INSERT is permanent: the night reports it for each task and does not re-run them."""
    from flows.nightly import run_nightly
    from tests.flows.conftest import task_runs

    task_id = memo.task("abccorp", "ro.xml", "print('<ro/>')")
    settings = settings_for(tmp_path, limited_user("SELECT"))
    state = run_nightly(settings, NIGHT, retries=2, retry_delay_seconds=0)
    assert state.is_failed()
    assert "abccorp/ro.xml: run succeeded (OK) but the runlog row was not written" in state.message
    assert "INSERT command denied" in state.message
    run = task_runs(state)["abccorp/ro.xml"]
    assert run.state.is_failed() and run.run_count == 1  # not retried: it would only fail again
    assert memo.runlog(task_id) == []


@pytest.mark.usefixtures("prefect_harness")
def test_unreachable_at_start_of_night_retries_then_fails_the_flow(memo, mariadb, proxy, tmp_path):
    from flows.nightly import run_nightly

    task_id = memo.task("abccorp", "daily.xml", "print('d')")
    settings = settings_for(tmp_path, proxied(mariadb, proxy))
    proxy.down()
    started = time.monotonic()
    with Recorder("memo.database") as log:
        state = run_nightly(settings, NIGHT)
    elapsed = time.monotonic() - started
    assert state.is_failed()
    assert "MEMO database unreachable, could not read the tasks after 3 attempts" in state.message, state.message
    retries = log.messages("could not read the tasks (attempt")
    assert len(retries) == 2 and "retrying in 1.0s" in retries[0] and "retrying in 2.0s" in retries[1]
    assert elapsed >= 3.0  # backoff 1 s + 2 s
    assert not (settings.exports_dir / "abccorp").exists()
    assert catchup.read_last_night(settings.work_dir) is None  # the night is not marked done
    proxy.up()
    assert memo.runlog(task_id) == []


# The second task says it started (a table of its own), then waits (on a direct
# connection, not through the proxy) for the test's go-ahead, so the database can be cut
# while it runs.
WAIT_FOR_RELEASE = """\
import time
import mysql.connector
print("<second>", flush=True)
conn = mysql.connector.connect(host={host!r}, port={port}, user={user!r}, password={password!r},
                               database={db!r}, autocommit=True, use_pure=True)
cur = conn.cursor()
cur.execute("CREATE TABLE second_started (x INT)")
deadline = time.time() + 60
while time.time() < deadline:
    cur.execute("SELECT COUNT(*) FROM query WHERE name = 'release'")
    if cur.fetchone()[0]:
        break
    time.sleep(0.05)
print("</second>")
"""


def release_script(mariadb) -> str:
    import sqlalchemy as sa

    u = sa.engine.make_url(mariadb.url)
    return WAIT_FOR_RELEASE.format(host=u.host, port=u.port or 3306, user=u.username,
                                   password=u.password or "", db=u.database)


@pytest.mark.usefixtures("prefect_harness")
def test_lost_mid_night_the_flow_reports_every_unrecorded_run(memo, mariadb, proxy, tmp_path, monkeypatch):
    import flows.nightly
    from flows.nightly import run_nightly

    first = memo.task("abccorp", "a1.xml", "print('<first/>')")
    second = memo.task("abccorp", "a2.xml", release_script(mariadb))

    def second_started() -> bool:
        with memo.engine.connect() as conn:
            return bool(conn.exec_driver_sql("SHOW TABLES LIKE 'second_started'").fetchall())

    third = memo.task("abccorp", "a3.xml", "print('<third/>')")
    url = proxied(mariadb, proxy)
    monkeypatch.setattr(flows.nightly, "Runner",
                        lambda s: Runner(s, db=MemoDatabase(url, retries=3, backoff=0.05)))
    settings = settings_for(tmp_path, url, concurrency=1)
    exports = settings.exports_dir / "abccorp"

    result = {}
    night = threading.Thread(target=lambda: result.update(state=run_nightly(settings, NIGHT, retries=0)))
    night.start()
    try:
        wait_for(lambda: memo.runlog(first) and second_started(), 60,
                 "the first task recorded and the second running")
        proxy.down()
        memo.query("release", "SELECT 1")  # the direct connection: the script may finish
    finally:
        night.join(120)
    state = result["state"]
    proxy.up()

    assert state.is_failed()
    assert "1 of 3 task(s) succeeded, 2 failed" in state.message, state.message
    assert "abccorp/a2.xml: run succeeded (OK) but the runlog row was not written" in state.message
    assert "abccorp/a3.xml" in state.message and "unreachable" in state.message
    # Done stays done; the second run's export is whole (it ran). The third was loaded
    # either before the cut, prepared while the second ran (it runs after it: a whole
    # export, no runlog row), or after it (never started): never a partial export.
    assert (exports / "a1.xml").read_text() == "<first/>\n"
    assert [bool(r.is_success) for r in memo.runlog(first)] == [True]
    assert (exports / "a2.xml").read_text() == "<second>\n</second>\n"
    assert memo.runlog(second) == [] and memo.runlog(third) == []
    third_export = exports / "a3.xml"
    assert not third_export.exists() or third_export.read_text() == "<third/>\n"
    assert partial_files(settings) == []
