"""The nightly flow on the Prefect test harness over a MariaDB MEMO database (process sandbox)."""

from __future__ import annotations

import datetime as dt

import pytest

from memo.errors import SandboxUnavailable
from memo.locks import night_lock
from tests.conftest import make_settings
from tests.flows.conftest import artifact_rows, task_runs

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.mariadb]

NIGHT = dt.date(2024, 5, 15)  # a Wednesday


def test_night_runs_the_due_tasks_records_states_and_artifact(memo, tmp_path, database_url):
    from flows.nightly import run_nightly

    ok1 = memo.task("abccorp", "daily.xml", "import sys\nprint('one')\nprint('stderr of daily', file=sys.stderr)")
    weekly = memo.task("abccorp", "weekly.csv", "print('w')", frequency="W", start_date=dt.date(2024, 5, 1))
    not_due = memo.task("abccorp", "notdue.csv", "print('x')", frequency="W", start_date=dt.date(2024, 5, 2))
    inactive = memo.task("defgroup", "off.xml", "print('off')", is_active=False)
    failing = memo.task("defgroup", "failing.xml", "import sys\nprint('half')\nsys.exit(3)")
    refused = memo.task("defgroup", "refused.xml", "import os\nprint(os.getcwd())")
    ok2 = memo.task("zeta", "last.json", "print('{}')")
    malformed = memo.task("zeta", "odd.json", "print(1)", frequency=None)
    settings = make_settings(tmp_path, database_url, concurrency=3)

    state = run_nightly(settings, NIGHT)

    assert state.is_failed()
    assert "3 of 5 task(s) succeeded, 2 failed" in state.message
    exports = settings.exports_dir
    assert (exports / "abccorp" / "daily.xml").read_text() == "one\n"
    assert (exports / "abccorp" / "weekly.csv").read_text() == "w\n"
    assert (exports / "zeta" / "last.json").read_text() == "{}\n"
    assert not (exports / "abccorp" / "notdue.csv").exists()
    assert not (exports / "defgroup" / "failing.xml").exists()  # no partial export
    # one runlog row per task that ran, none for the others
    for task_id, success in [(ok1, True), (weekly, True), (ok2, True), (failing, False), (refused, False)]:
        rows = memo.runlog(task_id)
        assert [bool(r.is_success) for r in rows] == [success], task_id
    for task_id in (not_due, inactive, malformed):
        assert memo.runlog(task_id) == []

    runs = task_runs(state)
    assert set(runs) == {"abccorp/daily.xml", "abccorp/weekly.csv", "defgroup/failing.xml",
                         "defgroup/refused.xml", "zeta/last.json"}
    assert runs["abccorp/daily.xml"].state.is_completed()
    assert runs["defgroup/failing.xml"].state.is_failed()
    assert runs["defgroup/refused.xml"].state.is_failed()
    # a script's own failure and a guard refusal are never retried
    assert runs["defgroup/failing.xml"].run_count == 1
    assert runs["defgroup/refused.xml"].run_count == 1
    assert "exited with code 3" in runs["defgroup/failing.xml"].state.message

    rows = {r["task"]: r for r in artifact_rows(state)}
    assert set(rows) == {"daily.xml", "weekly.csv", "failing.xml", "refused.xml", "last.json", "odd.json"}
    assert rows["daily.xml"]["client"] == "abccorp"
    assert rows["daily.xml"]["status"] == "Completed"
    assert rows["daily.xml"]["bytes"] == 4
    assert rows["daily.xml"]["duration"] > 0
    assert rows["failing.xml"]["status"] == "Failed (script)"
    assert "exited with code 3" in rows["failing.xml"]["message"]
    assert rows["refused.xml"]["status"] == "Failed (guard)"
    assert "Illegal instructions found" in rows["refused.xml"]["message"]
    assert rows["odd.json"]["status"] == "Not run (malformed)"
    for row in rows.values():
        assert set(row) >= {"task", "client", "status", "duration", "bytes", "message"}


def test_script_stderr_reaches_the_task_run_logs(memo, tmp_path, database_url):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterTaskRunId

    from flows.nightly import run_nightly

    memo.task("abccorp", "talks.xml", "import sys\nprint('x')\nprint('progress: 42 rows', file=sys.stderr)")
    state = run_nightly(make_settings(tmp_path, database_url), NIGHT)
    assert state.is_completed(), state.message
    run = task_runs(state)["abccorp/talks.xml"]
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(task_run_id=LogFilterTaskRunId(any_=[run.id])))
    messages = [log.message for log in logs]
    assert any("progress: 42 rows" in m for m in messages), messages
    assert any("abccorp/talks.xml succeeded" in m for m in messages), messages


def test_concurrency_is_bounded(memo, tmp_path, database_url):
    from flows.nightly import run_nightly

    script = "import time\nstart = time.time()\ntime.sleep(0.4)\nprint(start, time.time())\n"
    for i in range(7):
        memo.task("abccorp", f"slow{i}.txt", script)
    settings = make_settings(tmp_path, database_url, concurrency=3)
    state = run_nightly(settings, NIGHT)
    assert state.is_completed(), state.message
    spans = [tuple(map(float, p.read_text().split())) for p in (settings.exports_dir / "abccorp").iterdir()]
    assert len(spans) == 7
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 3  # bounded by MEMO_CONCURRENCY, and really parallel


def test_one_script_at_a_time_in_the_nights_order_while_the_next_is_prepared(memo, tmp_path, database_url):
    """MEMO_CONCURRENCY=1: the scripts never overlap and start in the night's order
    (client, file name), although the next task is loaded, guarded and built meanwhile."""
    from flows.nightly import run_nightly

    script = "import time\nstart = time.time()\ntime.sleep(0.2)\nprint(start, time.time())\n"
    names = [f"t{i}.txt" for i in range(5)]
    for name in reversed(names):  # inserted in reverse: the order is the night's, not the rows'
        memo.task("abccorp", name, script)
    settings = make_settings(tmp_path, database_url, concurrency=1)
    state = run_nightly(settings, NIGHT)
    assert state.is_completed(), state.message
    spans = [tuple(map(float, (settings.exports_dir / "abccorp" / n).read_text().split())) for n in names]
    assert [s for s, _ in spans] == sorted(s for s, _ in spans)  # started in order
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))  # one at a time


class FlakySandbox:
    """The real sandbox, unavailable on its first call (an infrastructure fault)."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.calls = 0

    def run(self, job, stdout):
        self.calls += 1
        if self.calls == 1:
            raise SandboxUnavailable("container engine not answering (test)")
        return self.inner.run(job, stdout)

    def remove_orphans(self):
        return 0

    def problems(self):
        return []


def test_infrastructure_fault_is_retried_and_others_go_on(memo, tmp_path, database_url, monkeypatch):
    import flows.nightly
    from memo.runner import Runner
    from memo.sandbox import make_sandbox

    monkeypatch.setattr(flows.nightly, "Runner",
                        lambda s: Runner(s, sandbox=FlakySandbox(make_sandbox(s))))
    task_id = memo.task("abccorp", "flaky.xml", "print('eventually')")
    state = flows.nightly.run_nightly(make_settings(tmp_path, database_url, concurrency=1),
                                      NIGHT, retry_delay_seconds=0)
    assert state.is_completed(), state.message
    run = task_runs(state)["abccorp/flaky.xml"]
    assert run.run_count == 2  # retried once
    assert [bool(r.is_success) for r in memo.runlog(task_id)] == [False, True]
    assert "container engine not answering" in memo.runlog(task_id)[0].message


def test_exit_code_and_night_lock(memo, tmp_path, database_url):
    from flows.nightly import run_nightly_now

    memo.task("abccorp", "fine.xml", "print('ok')")
    settings = make_settings(tmp_path, database_url)
    assert run_nightly_now(settings, NIGHT) == 0
    with night_lock(settings.work_dir):  # another nightly holds the host
        assert run_nightly_now(settings, NIGHT) == 1
    memo.task("abccorp", "broken.xml", "raise SystemExit(1)")
    assert run_nightly_now(settings, NIGHT) == 1


def test_run_date_defaults_to_the_scheduled_date_in_the_zone(memo, tmp_path, database_url):
    """A run scheduled for 02:00 Amsterdam (00:00 UTC, the day before in UTC) does that night."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow
    from prefect.states import Scheduled

    from flows.run_settings import fast_flows, using_settings
    from flows.nightly import memo_nightly

    monthly = memo.task("abccorp", "monthly.xml", "print('m')", frequency="M", start_date=dt.date(2024, 1, 10))
    settings = make_settings(tmp_path, database_url)
    scheduled = dt.datetime(2024, 3, 10, 1, 0, tzinfo=dt.timezone.utc)  # 02:00 CET on 10 March
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(memo_nightly, parameters={}, state=Scheduled(scheduled_time=scheduled))
    with using_settings(settings), fast_flows():
        state = run_flow(memo_nightly, flow_run=flow_run, return_type="state")
    assert state.is_completed(), state.message
    assert "night 2024-03-10" in state.message
    assert [bool(r.is_success) for r in memo.runlog(monthly)] == [True]


def test_a_late_scheduled_run_follows_the_catch_up_policy(memo, tmp_path, database_url, monkeypatch):
    import flows.nightly
    from memo import catchup

    task_id = memo.task("abccorp", "daily.xml", "print('d')")
    zone = make_settings(tmp_path, database_url).zone
    now = dt.datetime.now(zone)
    # a daily schedule whose last fire was three hours ago: its run is late
    cron = f"{now.minute} {(now.hour - 3) % 24} * * *"
    settings = make_settings(tmp_path, database_url, schedule_cron=cron, catch_up="once")
    last = catchup.last_scheduled_night(cron, now)[1]
    assert dt.timedelta(hours=2.9) < now - last < dt.timedelta(hours=3.1)
    two_days_before = last - dt.timedelta(days=2)

    def scheduled(night_at):
        monkeypatch.setattr(flows.nightly, "_night_of_run", lambda s: (night_at.date(), night_at, True))

    catchup.record_night(settings.work_dir, (now - dt.timedelta(days=5)).date())
    # a run the scheduler made two nights ago, picked up now: superseded by a later night
    scheduled(two_days_before)
    state = flows.nightly.run_nightly(settings)
    assert state.is_completed() and state.name == "Skipped", state
    assert "superseded" in state.message
    assert memo.runlog(task_id) == []
    # with catch_up=skip, the last night's late run is skipped too
    scheduled(last)
    state = flows.nightly.run_nightly(settings.model_copy(update={"catch_up": "skip"}))
    assert state.name == "Skipped" and "catch-up: skip" in state.message
    # with catch_up=once it runs, once: the night is recorded and not run again
    state = flows.nightly.run_nightly(settings)
    assert state.is_completed() and state.name == "Completed", state
    assert len(memo.runlog(task_id)) == 1
    state = flows.nightly.run_nightly(settings)
    assert state.name == "Skipped" and "already ran" in state.message
    assert len(memo.runlog(task_id)) == 1
    assert catchup.read_last_night(settings.work_dir) == last.date()


def test_serve_start_catches_up_a_missed_night_once(memo, tmp_path, database_url, monkeypatch):
    from flows import service
    from memo import catchup

    task_id = memo.task("abccorp", "daily.xml", "print('d')")
    zone = make_settings(tmp_path, database_url).zone
    now = dt.datetime.now(zone)
    cron = f"{now.minute} {(now.hour - 3) % 24} * * *"  # last fire three hours ago
    settings = make_settings(tmp_path, database_url, schedule_cron=cron)
    night = catchup.last_scheduled_night(cron, now)[0]
    # nothing recorded yet: a fresh install missed nothing
    assert service.catch_up_on_start(settings, background=False) is None
    catchup.record_night(settings.work_dir, night - dt.timedelta(days=3))  # down since then
    skip = settings.model_copy(update={"catch_up": "skip"})
    decision = service.catch_up_on_start(skip, background=False)
    assert decision is not None and not decision.run and memo.runlog(task_id) == []
    decision = service.catch_up_on_start(settings, background=False)
    assert decision.run and decision.night == night
    assert [bool(r.is_success) for r in memo.runlog(task_id)] == [True]
    assert catchup.read_last_night(settings.work_dir) == night
    assert service.catch_up_on_start(settings, background=False) is None  # done: not again
    side = service.start(settings.model_copy(update={"prefect_serve": "no"}))
    assert side.process is None
    side.stop()


def test_run_memo_task_in_process_returns_the_outcome(memo, tmp_path, database_url):
    from flows.task import run_memo_task
    from memo.locks import task_lock

    task_id = memo.task("abccorp", "adhoc.xml", "print('<x/>')")
    settings = make_settings(tmp_path, database_url)
    dry = run_memo_task(settings, task_id, dry_run=True)
    assert dry.success and dry.dry_run and dry.label == "abccorp/adhoc.xml"
    assert (settings.exports_dir / "tmp" / "abccorp_adhoc.xml").read_text() == "<x/>\n"
    assert memo.runlog(task_id) == []  # a dry run leaves no runlog row
    real = run_memo_task(settings, task_id)
    assert real.success and real.task_result()["success"] is True
    assert [bool(r.is_success) for r in memo.runlog(task_id)] == [True]
    missing = run_memo_task(settings, "00000000-0000-0000-0000-000000000000")
    assert not missing.success and missing.kind == "not_found"
    with task_lock(settings.work_dir, task_id):  # a nightly run holds the task
        busy = run_memo_task(settings, task_id, lock_wait=0)
    assert not busy.success and busy.kind == "busy"


def test_the_dispatcher_reads_a_memo_task_outcome_back_from_its_artifact(memo, tmp_path, database_url):
    from flows.run_settings import fast_flows, using_settings
    from flows.task import memo_task, outcome_from_artifact

    good = memo.task("abccorp", "good.xml", "print('12345')")
    bad = memo.task("abccorp", "bad.xml", "raise SystemExit(4)")
    with using_settings(make_settings(tmp_path, database_url)), fast_flows():
        ok_state = memo_task(task_id=good, return_state=True)
        bad_state = memo_task(task_id=bad, retries=0, return_state=True)
    assert ok_state.is_completed() and bad_state.is_failed()
    ok = outcome_from_artifact(ok_state.state_details.flow_run_id)
    assert ok.success and ok.bytes_written == 6 and ok.label == "abccorp/good.xml" and ok.task_id == good
    failed = outcome_from_artifact(bad_state.state_details.flow_run_id)
    assert not failed.success and failed.kind == "script" and "exited with code 4" in failed.message
