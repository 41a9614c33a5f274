"""The API's default path: each request runs on the Runner and is recorded as a ``memo-task``
flow run (``flows.recorded``), read back here from the session's Prefect API."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from api.runs import PrefectRuns, make_run


def _all_memo_task_runs() -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["memo-task"])))


def memo_task_runs() -> dict[str, object]:
    return {r.name: r for r in _all_memo_task_runs()}


def wait_until(condition, timeout: float = 30) -> None:
    """The HTTP app's records are made after the answers: wait for them."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "Prefect's records did not arrive"
        time.sleep(0.2)


def logs_of(flow_run_id) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [log.message for log in logs]


def artifact_of(flow_run_id) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {"key": artifact.key, "row": json.loads(artifact.data)[0]}


def test_default_is_prefect(tmp_path, sqlite_url, monkeypatch):
    from tests.conftest import make_settings

    monkeypatch.delenv("MEMO_HTTP_VIA", raising=False)
    assert isinstance(make_run(make_settings(tmp_path, sqlite_url)), PrefectRuns)
    monkeypatch.setenv("MEMO_HTTP_VIA", "direct")
    assert not isinstance(make_run(make_settings(tmp_path, sqlite_url)), PrefectRuns)


def test_requests_are_memo_task_flow_runs_named_after_the_task(prefect_harness, serve, smemo):
    task_id = smemo.task("abccorp", "mytask.xml",
                         "import sys\nprint('<via-prefect/>')\nprint('progress: 7 rows', file=sys.stderr)")
    slow_id = smemo.task("abccorp", "slow.txt", "import time\ntime.sleep(1.5)\nprint('slow')")
    failing_id = smemo.task("abccorp", "bad.xml", "raise SystemExit(4)")
    url, settings = serve(smemo.url, run="prefect", concurrency=4)

    ok = httpx.get(f"{url}/runtask/{task_id}", timeout=120)
    assert ok.status_code == 200, ok.text
    assert ok.json()["message"] == "OK" and ok.json()["success"] is True
    assert (settings.exports_dir / "abccorp" / "mytask.xml").read_text() == "<via-prefect/>\n"
    assert [(r.is_success, r.message) for r in smemo.runlog(task_id)] == [(True, "OK")]

    dry = httpx.get(f"{url}/dryruntask/{task_id}", timeout=120)
    assert dry.status_code == 200 and (settings.exports_dir / "tmp" / "abccorp_mytask.xml").exists()

    failed = httpx.get(f"{url}/runtask/{failing_id}", timeout=120)
    assert failed.status_code == 500 and "code 4" in failed.json()["message"]

    missing = str(uuid.uuid4())
    assert httpx.get(f"{url}/runtask/{missing}", timeout=120).status_code == 404

    barrier = threading.Barrier(2)

    def call(_):
        barrier.wait()
        return httpx.get(f"{url}/runtask/{slow_id}", timeout=120)

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(r.status_code for r in pool.map(call, range(2)))
    assert statuses == [200, 409]
    assert len(smemo.runlog(slow_id)) == 1

    names = {"abccorp/mytask.xml", "dry-run abccorp/mytask.xml", "abccorp/bad.xml", "abccorp/slow.txt"}
    wait_until(lambda: names <= {r.name for r in _all_memo_task_runs() if r.state.is_final()})
    runs = memo_task_runs()
    slow = sorted(r.state.name for r in _all_memo_task_runs() if r.name == "abccorp/slow.txt")
    assert slow == ["Completed"], slow  # the 409 was answered by the app's own busy check
    run = runs["abccorp/mytask.xml"]
    assert run.state.is_completed() and set(run.tags) >= {"memo", "memo-http"}
    assert run.parameters == {"task_id": task_id, "dry_run": False}
    assert runs["dry-run abccorp/mytask.xml"].state.is_completed()
    assert runs["abccorp/bad.xml"].state.is_failed()
    assert "code 4" in runs["abccorp/bad.xml"].state.message
    assert missing not in runs  # no row, no run: the 404 is MEMO Manager's answer alone
    assert any("progress: 7 rows" in m for m in logs_of(run.id))  # the script's stderr, in its run
    assert any("abccorp/mytask.xml succeeded" in m for m in logs_of(run.id))
    artifact = artifact_of(run.id)
    assert artifact["key"] == f"memo-task-{task_id}"
    assert artifact["row"]["kind"] == "ok" and artifact["row"]["bytes"] == len("<via-prefect/>\n")


def test_http_runs_are_attached_to_the_memo_task_deployment(prefect_harness, tmp_path, smemo):
    """Registered (as ``serve`` and prefect.yaml do), the deployment owns the HTTP app's runs."""
    from prefect.client.orchestration import get_client

    from flows.recorded import FlowRunRecorder
    from flows.task import memo_task
    from memo.runner import Runner
    from tests.conftest import make_settings

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("memo-task")
        deployment_id = client.create_deployment(flow_id=flow_id, name="memo-task")
    assert memo_task.name == "memo-task"
    task_id = smemo.task("unipress", "deployed.txt", "print('attached')")
    recorder = FlowRunRecorder()
    try:
        outcome = recorder.record(Runner(make_settings(tmp_path, smemo.url)), task_id, dry_run=False, lock_wait=0)
        assert recorder.flush(30)
    finally:
        recorder.close()
        with get_client(sync_client=True) as client:
            run = memo_task_runs()["unipress/deployed.txt"]
            client.delete_deployment(deployment_id)
    assert outcome.success, outcome.message
    assert run.deployment_id == deployment_id and run.state.is_completed()


@pytest.fixture
def api_log():
    """Messages of the ``memo.api`` logger (caplog loses them when Prefect, first imported
    inside a test, reconfigures the root logger's handlers)."""
    from tests.api.conftest import logged_messages

    with logged_messages("memo.api") as messages:
        yield messages


@pytest.fixture
def recorder(monkeypatch):
    """A ``FlowRunRecorder`` whose calls to Prefect the test replaces (no server needed)."""
    from flows.recorded import FlowRunRecorder

    rec = FlowRunRecorder()
    rec._client_now = lambda: None
    yield rec
    rec.close()


def _runner(tmp_path, url):
    from memo.runner import Runner
    from tests.conftest import make_settings

    return Runner(make_settings(tmp_path, url))


def test_prefect_down_before_the_run_the_task_runs_unrecorded_and_prefect_is_let_be(
        tmp_path, smemo, api_log, recorder):
    calls = []

    def prefect_down(client, *args):
        calls.append(args)
        raise RuntimeError("503 Service Unavailable for url '/api/flow_runs/'")

    recorder.create = prefect_down
    recorder.end = lambda *args: pytest.fail("no end for a run that was not created")
    task_id = smemo.task("abccorp", "mytask.xml", "print('fallback')")
    outcome = recorder.record(_runner(tmp_path, smemo.url), task_id, dry_run=False, lock_wait=0)
    assert outcome.success, outcome.message
    assert (tmp_path / "exports" / "abccorp" / "mytask.xml").read_text() == "fallback\n"
    assert len(smemo.runlog(task_id)) == 1
    assert recorder.flush(10)
    assert any("it ran without Prefect" in m and "503" in m for m in api_log)
    again = recorder.record(_runner(tmp_path, smemo.url), task_id, dry_run=False, lock_wait=0)
    assert again.success and recorder.flush(10) and len(calls) == 1  # within BACKOFF: not asked again
    assert any("Prefect failed moments ago: task abccorp/mytask.xml runs unrecorded" in m for m in api_log)


def test_prefect_failing_after_the_run_returns_its_outcome_without_a_second_run(
        tmp_path, smemo, api_log, recorder):
    ended = []
    recorder.create = lambda client, task_id, name, dry_run: "flow-run-1"

    def end_fails(client, flow_run_id, outcome):
        ended.append((flow_run_id, outcome.message))
        raise RuntimeError("set_state: 503 Service Unavailable")

    recorder.end = end_fails
    task_id = smemo.task("abccorp", "mytask.xml", "print('once')")
    outcome = recorder.record(_runner(tmp_path, smemo.url), task_id, dry_run=False, lock_wait=0)
    assert outcome.success and outcome.message == "OK"
    assert len(smemo.runlog(task_id)) == 1  # ran once
    assert recorder.flush(10) and ended == [("flow-run-1", "OK")]
    assert any("Prefect failed to record its end" in m for m in api_log)


def test_a_slow_prefect_does_not_hold_the_answer_and_the_run_is_still_recorded(tmp_path, smemo, recorder):
    got = []

    def slow_create(client, task_id, name, dry_run):
        time.sleep(1.5)  # an overloaded server
        return f"late-{name}"

    recorder.create = slow_create
    recorder.end = lambda client, flow_run_id, outcome: got.append((flow_run_id, outcome.success))
    runner = _runner(tmp_path, smemo.url)
    ids = [smemo.task("abccorp", f"quick{i}.txt", "print('quick')") for i in range(2)]
    started = time.monotonic()
    outcomes = [recorder.record(runner, task_id, dry_run=False, lock_wait=0) for task_id in ids]
    answered = time.monotonic() - started
    assert all(o.success for o in outcomes) and answered < 1.5, answered  # neither waited for Prefect
    assert recorder.flush(10)
    assert got == [("late-abccorp/quick0.txt", True), ("late-abccorp/quick1.txt", True)]  # in order


def test_a_task_that_does_not_exist_asks_nothing_of_prefect(tmp_path, smemo, recorder):
    recorder.create = lambda *args: pytest.fail("no flow run for a task that is not there")
    outcome = recorder.record(_runner(tmp_path, smemo.url), str(uuid.uuid4()), dry_run=False, lock_wait=0)
    assert outcome.kind == "not_found"


def test_a_run_whose_runlog_row_cannot_be_written_still_ends_its_record(tmp_path, smemo, recorder, monkeypatch):
    """The run ended, the database refused its runlog row: the flow run ends Failed, not Running."""
    from memo.errors import DatabaseUnavailable

    created, ended = [], []
    recorder.create = lambda client, task_id, name, dry_run: created.append(name) or "flow-run-db"
    recorder.end = lambda client, flow_run_id, outcome: ended.append((flow_run_id, outcome.success, outcome.kind))
    runner = _runner(tmp_path, smemo.url)

    def refused(outcome):
        raise DatabaseUnavailable("MEMO database unreachable: runlog")

    monkeypatch.setattr(runner.db, "write_runlog", refused)
    task_id = smemo.task("abccorp", "nolog.txt", "print('x')")
    with pytest.raises(DatabaseUnavailable):
        recorder.record(runner, task_id, dry_run=False, lock_wait=0)
    assert recorder.flush(10)
    assert created == ["abccorp/nolog.txt"] and ended == [("flow-run-db", False, "database")]


def test_a_busy_task_asks_nothing_of_prefect(tmp_path, smemo, recorder):
    """The task's lock held elsewhere on the host: 409, and no flow run for it."""
    from memo.locks import task_lock

    recorder.create = lambda *args: pytest.fail("no flow run for a busy task")
    task_id = smemo.task("abccorp", "held.txt", "print('x')")
    with task_lock(tmp_path / "work", task_id, wait=0):
        outcome = recorder.record(_runner(tmp_path, smemo.url), task_id, dry_run=False, lock_wait=0)
    assert outcome.kind == "busy" and recorder.flush(10)


_KILLED_CHILD = """
import sys
from flows.recorded import FlowRunRecorder
from memo.runner import Runner
from tests.conftest import make_settings
from pathlib import Path

tmp, url, task_id = sys.argv[1:]
recorder = FlowRunRecorder()
recorder.mark_abandoned().result(30)
recorder.record(Runner(make_settings(Path(tmp), url)), task_id, dry_run=False, lock_wait=0)
"""


def test_runs_a_killed_process_left_running_are_marked_crashed_by_the_next_recorder(
        prefect_harness, tmp_path, smemo):
    """SIGKILL mid-run leaves the record Running; the next recorder on the host marks it Crashed
    (the killed pid in its message) and leaves alone a live process's run and another host's."""
    import os
    import signal
    import subprocess
    import sys

    from prefect.client.orchestration import get_client
    from prefect.states import Running

    from flows.recorded import RECORDER_LABEL, FlowRunRecorder, this_process
    from flows.task import memo_task

    task_id = smemo.task("unipress", "killed.txt", "import time\ntime.sleep(5)\nprint('never')")
    child = subprocess.Popen([sys.executable, "-c", _KILLED_CHILD, str(tmp_path), smemo.url, task_id],
                             cwd=os.getcwd(), env={**os.environ, "PREFECT_API_URL": prefect_harness})
    try:
        wait_until(lambda: "unipress/killed.txt" in memo_task_runs() or child.poll() is not None, timeout=60)
        assert child.poll() is None, "the child ended before it was killed"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
    host, boot, namespace, _pid, started = this_process().split(" ")
    with get_client(sync_client=True) as client:
        alive = client.create_flow_run(memo_task, name="alive/run.txt", state=Running(), tags=["memo-http"])
        client.update_flow_run_labels(alive.id, {RECORDER_LABEL: this_process()})
        other = client.create_flow_run(memo_task, name="other/host.txt", state=Running(), tags=["memo-http"])
        client.update_flow_run_labels(other.id, {RECORDER_LABEL: f"elsewhere {boot} {namespace} {child.pid} {started}"})
        container = client.create_flow_run(memo_task, name="other/pidns.txt", state=Running(), tags=["memo-http"])
        client.update_flow_run_labels(container.id, {RECORDER_LABEL: f"{host} {boot} 1 {child.pid} {started}"})
    assert memo_task_runs()["unipress/killed.txt"].state.is_running()

    recorder = FlowRunRecorder()
    try:
        assert recorder.mark_abandoned().result(30) == 1
        assert recorder.mark_abandoned().result(1) == 1  # once per recorder
    finally:
        recorder.close()
    runs = memo_task_runs()
    killed = runs["unipress/killed.txt"]
    assert killed.state.is_crashed() and f"(pid {child.pid})" in killed.state.message, killed.state
    assert killed.labels[RECORDER_LABEL].split(" ")[:3] == [host, boot, namespace]
    assert runs["alive/run.txt"].state.is_running() and runs["other/host.txt"].state.is_running()
    assert runs["other/pidns.txt"].state.is_running()  # a container's pids are not this one's
    assert not (tmp_path / "exports" / "unipress" / "killed.txt").exists()  # nothing half-written


def test_serve_has_abandoned_runs_marked_crashed_as_soon_as_prefect_answers(prefect_harness, tmp_path, smemo):
    """``PrefectRuns`` (as ``serve`` makes it) sweeps once ``api_ready`` is set, before any request."""
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    from flows.recorded import RECORDER_LABEL, this_process
    from flows.task import memo_task
    from tests.conftest import make_settings

    host, boot, namespace, _pid, _started = this_process().split(" ")
    with get_client(sync_client=True) as client:
        left = client.create_flow_run(memo_task, name="left/running.txt", state=Running(), tags=["memo-http"])
        client.update_flow_run_labels(left.id, {RECORDER_LABEL: f"{host} {boot} {namespace} 999999999 12345"})
    ready = threading.Event()
    runs = PrefectRuns(make_settings(tmp_path, smemo.url), api_ready=ready)
    try:
        time.sleep(0.5)
        assert runs._recorder is None and memo_task_runs()["left/running.txt"].state.is_running()
        ready.set()
        wait_until(lambda: memo_task_runs()["left/running.txt"].state.is_crashed(), timeout=30)
    finally:
        runs.close()


def test_a_fault_of_the_runner_ends_its_record_failed_not_running(tmp_path, smemo, recorder, monkeypatch):
    """Not a MemoError (a bug of ours after the row was read): the record still ends, Failed."""
    created, ended = [], []
    recorder.create = lambda client, task_id, name, dry_run: created.append(name) or "flow-run-bug"
    recorder.end = lambda client, flow_run_id, outcome: ended.append((flow_run_id, outcome.success,
                                                                     outcome.kind, outcome.message))
    runner = _runner(tmp_path, smemo.url)

    def broken(*args, **kwargs):
        raise KeyError("tree")

    monkeypatch.setattr(runner, "_run", broken)
    task_id = smemo.task("abccorp", "bug.txt", "print('x')")
    with pytest.raises(KeyError):
        recorder.record(runner, task_id, dry_run=False, lock_wait=0)
    assert recorder.flush(10)
    assert created == ["abccorp/bug.txt"]
    assert ended == [("flow-run-bug", False, "error", "the runner failed: KeyError: 'tree'")]
