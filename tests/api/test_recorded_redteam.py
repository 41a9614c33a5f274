"""Red team against the HTTP app's Prefect records (``flows.recorded``, ``flows.run_logs``).

Hostile rows and scripts, run through the real app on the session's Prefect API, must not
forge or mislead what operators see there: flow run names, state messages, artifacts and logs
take no control characters from a row or a script; a script's stderr does not flood the run's
logs; and another run of the same task cannot take a recorded run's log lines.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.api.test_prefect import _all_memo_task_runs, artifact_of, wait_until

CONTROL = set("\x00\x1b\r\n\x07\x9b\u202e\u200b\u2028")


def _controls(text: str | None) -> set[str]:
    return CONTROL & set(text or "")


def _final_run_of(task_id: str, dry_run: bool = False):
    def find():
        return [r for r in _all_memo_task_runs()
                if (r.parameters or {}).get("task_id") == task_id and r.state is not None and r.state.is_final()
                and bool((r.parameters or {}).get("dry_run")) == dry_run]

    wait_until(find)
    [run] = find()
    return run


def logs_of(flow_run_id) -> list[str]:
    """Every log message of a flow run (Prefect answers 200 at a time)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    messages: list[str] = []
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                                    limit=200, offset=len(messages))
            messages += [log.message for log in page]
            if len(page) < 200:
                return messages


@pytest.fixture
def memo_logs():
    """Every message of the ``memo`` loggers, formatted as the console shows it."""
    from tests.api.conftest import logged_messages

    with logged_messages("memo") as lines:
        yield lines


FORGED_LINE = "2026-12-03 02:00:01,000 INFO memo.runner: victim/report.xml succeeded in 1.00s: OK"


@pytest.mark.parametrize("file_name, runs", [
    (f"r.xml\n{FORGED_LINE}\x1b[2K", False),  # refused (control characters), after the record began
    ("lmx.tropeR\u202e\u200b.txt", True),     # accepted: a bidi override shows it as another name
])
def test_a_hostile_name_names_no_flow_run_message_or_log_line_as_it_is(
        prefect_harness, serve, smemo, memo_logs, file_name, runs):
    task_id = smemo.task("abccorp", file_name, "print('x')")
    url, _ = serve(smemo.url, run="prefect")

    answer = httpx.get(f"{url}/runtask/{task_id}", timeout=120)

    assert answer.status_code == (200 if runs else 500), answer.text
    run = _final_run_of(task_id)
    assert not _controls(run.name), repr(run.name)
    assert run.name.startswith("abccorp/")
    assert not _controls(run.state.message), repr(run.state.message)
    assert all(not _controls(m) for m in logs_of(run.id)), logs_of(run.id)
    row = artifact_of(run.id)["row"]
    assert not _controls(row["task"]) and not _controls(row["message"]), row
    forged = [m for m in memo_logs if "\n" in m or "\r" in m or "\x1b" in m]
    assert forged == [], forged  # the console and the journal: no line of the runner's own forged


NOISY = (
    "import sys, time\n"
    "time.sleep(2)\n"  # once Prefect has made the run: lines are no longer kept (at most 500) for it
    "for i in range(5000):\n"
    "    print('noise', i, file=sys.stderr)\n"
    "sys.stderr.write('nul\\x00 esc\\x1b[31m red cr\\r bell\\x07\\n')\n"
    "raise SystemExit(2)\n"
)


def test_a_scripts_stderr_neither_floods_its_run_nor_brings_control_characters(prefect_harness, serve, smemo):
    task_id = smemo.task("abccorp", "noisy.txt", NOISY)
    url, _ = serve(smemo.url, run="prefect")

    answer = httpx.get(f"{url}/runtask/{task_id}", timeout=120)

    assert answer.status_code == 500
    assert not _controls(answer.json()["message"]) - {"\n"}, answer.json()["message"]  # the tail's lines
    run = _final_run_of(task_id)
    assert run.state.is_failed()
    assert not _controls(run.state.message) - {"\n"}, repr(run.state.message)
    wait_until(lambda: any("abccorp/noisy.txt failed" in m for m in logs_of(run.id)))
    logs = logs_of(run.id)
    noise = [m for m in logs if "noise" in m]
    assert 0 < len(noise) <= 1001, len(noise)  # LOG_LINES, and the runner's line (its tail): not 5,000 records
    assert all(not _controls(m) for m in logs), [m for m in logs if _controls(m)][:3]
    assert not _controls(artifact_of(run.id)["row"]["message"]) - {"\n"}


def test_another_run_of_the_task_waiting_for_its_lock_does_not_take_the_recorded_runs_log_lines(
        prefect_harness, tmp_path, smemo):
    """A ``memo-task`` flow run (a deployment run, the night) of a task the HTTP app is running
    waits for the task's lock; until then the recorded run's script lines stay the recorded run's."""
    from flows.recorded import FlowRunRecorder
    from flows.task import run_memo_task
    from memo.runner import Runner
    from tests.conftest import make_settings

    task_id = smemo.task("unipress", "shared.txt", (
        "import sys, time\n"
        "print('first line', file=sys.stderr, flush=True)\n"
        "time.sleep(6)\n"
        "print('second line', file=sys.stderr, flush=True)\n"
        "print('ok')\n"))
    settings = make_settings(tmp_path, smemo.url)
    recorder = FlowRunRecorder()
    other: dict = {}

    def other_run():
        time.sleep(0.5)  # once the recorded run holds the lock
        other["outcome"] = run_memo_task(settings, task_id, dry_run=True, lock_wait=None)

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        outcome = recorder.record(Runner(settings), task_id, dry_run=False, lock_wait=0)
        thread.join(120)
        assert recorder.flush(30)
    finally:
        recorder.close()
    assert outcome.success, outcome.message
    assert other["outcome"].success, other["outcome"].message
    run = _final_run_of(task_id)
    wait_until(lambda: any("first line" in m for m in logs_of(run.id)))
    time.sleep(2)  # Prefect's log worker sends in batches
    mine = logs_of(run.id)
    assert any("second line" in m for m in mine), mine  # not in the waiting run's logs instead
    assert any("unipress/shared.txt succeeded" in m for m in mine), mine
    theirs = logs_of(_final_run_of(task_id, dry_run=True).id)
    assert sum("second line" in m for m in theirs) == 1, theirs  # its own script's, once


@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
def test_the_same_task_asked_for_in_another_case_is_not_run_a_second_time(serve, database_url):
    """``/runtask/ABC…`` while ``abc…`` runs: on MEMO's schema (utf8mb4_bin, memo.schema) the id
    names no row (404), so the two requests can never run one task twice at once past its lock,
    which is keyed by the id as asked."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.conftest import Memo

    memo = Memo(database_url)
    task_id = memo.task("abccorp", "twice.txt", "import time\ntime.sleep(1)\nprint('once')\n")
    url, settings = serve(database_url, run="direct", concurrency=4)
    barrier = threading.Barrier(2)

    def call(tid):
        barrier.wait()
        return httpx.get(f"{url}/runtask/{tid}", timeout=120)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(call, [task_id.lower(), task_id.upper()]))
    assert [a.status_code for a in answers] == [200, 404], [a.text for a in answers]
    assert len(memo.runlog(task_id)) == 1
    assert (settings.exports_dir / "abccorp" / "twice.txt").read_text() == "once\n"
    memo.engine.dispose()


def test_a_run_whose_artifact_prefect_refuses_still_ends_failed_not_running(prefect_harness, tmp_path, smemo,
                                                                             monkeypatch):
    """Prefect answering 503 to the artifact (its SQLite busy, docs) must not leave the flow run
    Running for good, its failure never notified."""
    import httpx as _httpx
    from prefect.client.orchestration import SyncPrefectClient

    from flows.recorded import FlowRunRecorder
    from memo.runner import Runner
    from tests.conftest import make_settings

    def busy(self, artifact):
        raise _httpx.HTTPStatusError("503 Service Unavailable", request=_httpx.Request("POST", "http://x/artifacts/"),
                                     response=_httpx.Response(503))

    monkeypatch.setattr(SyncPrefectClient, "create_artifact", busy)
    task_id = smemo.task("abccorp", "noartifact.txt", "raise SystemExit(5)")
    recorder = FlowRunRecorder()
    try:
        outcome = recorder.record(Runner(make_settings(tmp_path, smemo.url)), task_id, dry_run=False, lock_wait=0)
        assert recorder.flush(30)
    finally:
        recorder.close()
    assert not outcome.success
    run = _final_run_of(task_id)  # waits for a final state: Running forever fails here
    assert run.state.is_failed() and "code 5" in run.state.message


def test_a_hostile_script_name_in_a_refusal_brings_no_control_characters(prefect_harness, serve, smemo):
    """The MAIN script's own ``name`` (a row, never a path: check_path_name does not see it) is
    in MEMO's refusal message, which goes to the runlog, the answer and the run's state."""
    task_id = smemo.task("abccorp", "named.txt", "f = open('x')\n")
    smemo.execute("UPDATE script SET name = :name WHERE id = (SELECT id_script FROM task WHERE id = :id)",
                  name="abccorp:named\x1b[2K\r\x07=[]} all clear", id=task_id)
    url, _ = serve(smemo.url, run="prefect")

    answer = httpx.get(f"{url}/runtask/{task_id}", timeout=120)

    assert answer.status_code == 500
    message = answer.json()["message"]
    assert message.startswith("Illegal instructions found") and "all clear" in message, message
    assert not _controls(message), repr(message)
    [row] = smemo.runlog(task_id)
    assert not _controls(row.message), repr(row.message)
    run = _final_run_of(task_id)
    assert not _controls(run.state.message), repr(run.state.message)


def test_a_username_with_a_slash_does_not_name_its_run_as_another_clients(prefect_harness, serve, smemo):
    task_id = smemo.task("victim/report.xml", "x.txt", "print('x')")  # refused: a path separator
    url, _ = serve(smemo.url, run="prefect")

    assert httpx.get(f"{url}/runtask/{task_id}", timeout=120).status_code == 500

    run = _final_run_of(task_id)
    assert run.name.count("/") == 1 and not run.name.startswith("victim/"), run.name
    row = artifact_of(run.id)["row"]
    assert row["client"] != "victim" and row["task"] == "x.txt", row


def test_a_dry_runs_artifact_never_becomes_the_latest_of_the_real_runs_key(prefect_harness, serve, smemo):
    """The key's latest artifact is what an operator reads as the task's outcome: a dry run after
    a failed real run (its row says nothing of a dry run) must not show over it."""
    task_id = smemo.task("abccorp", "shadow.txt", "print('x')")
    url, _ = serve(smemo.url, run="prefect")

    assert httpx.get(f"{url}/runtask/{task_id}", timeout=120).status_code == 200
    assert httpx.get(f"{url}/dryruntask/{task_id}", timeout=120).status_code == 200

    real, dry = _final_run_of(task_id), _final_run_of(task_id, dry_run=True)
    assert artifact_of(real.id)["key"] == f"memo-task-{task_id}"
    assert artifact_of(dry.id)["key"] != f"memo-task-{task_id}", artifact_of(dry.id)
