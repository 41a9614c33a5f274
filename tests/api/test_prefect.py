"""The API's default path: each request is a ``memo-task`` flow run in the server process.

A Prefect test harness for this module only (≈ 10 s, 40–50 s on a loaded
machine), torn down before tests/flows starts its own: two harnesses alive at
once break the second one (Prefect's events worker is process-wide, so task runs
get recorded in the first). The flows run in the server's worker threads and are
read back from the Prefect API.
"""

from __future__ import annotations


import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from api.runs import PrefectRuns, make_run


def memo_task_runs() -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["memo-task"])))
    return {r.name: r for r in runs}


def test_default_is_prefect(tmp_path, sqlite_url, monkeypatch):
    from tests.conftest import make_settings

    monkeypatch.delenv("MEMO_HTTP_VIA", raising=False)
    assert isinstance(make_run(make_settings(tmp_path, sqlite_url)), PrefectRuns)
    monkeypatch.setenv("MEMO_HTTP_VIA", "direct")
    assert not isinstance(make_run(make_settings(tmp_path, sqlite_url)), PrefectRuns)


def test_requests_are_memo_task_flow_runs(prefect_harness, serve, smemo):
    task_id = smemo.task("abccorp", "mytask.xml", "print('<via-prefect/>')")
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

    runs = memo_task_runs()
    assert runs[task_id].state.is_completed()
    assert runs[f"dry-run {task_id}"].state.is_completed()
    assert runs[failing_id].state.is_failed()
    assert runs[slow_id].state.is_completed()


@pytest.fixture
def api_log():
    """Messages of the ``memo.api`` logger (caplog loses them when Prefect, first imported
    inside a test, reconfigures the root logger's handlers)."""
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("memo.api")
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def _prefect_runs(tmp_path, sqlite_url, fake_run):
    from tests.conftest import make_settings

    runs = PrefectRuns(make_settings(tmp_path, sqlite_url))
    runs._run = fake_run
    return runs


def test_prefect_failing_before_the_run_falls_back_to_a_direct_run(tmp_path, smemo, api_log):
    def prefect_down(settings, task_id, dry_run, *, runner, lock_wait):
        raise RuntimeError("503 Service Unavailable for url '/api/flow_runs/'")

    runs = _prefect_runs(tmp_path, smemo.url, prefect_down)
    task_id = smemo.task("abccorp", "mytask.xml", "print('fallback')")
    outcome = runs(task_id, dry_run=False, lock_wait=0)
    assert outcome.success, outcome.message
    assert (tmp_path / "exports" / "abccorp" / "mytask.xml").read_text() == "fallback\n"
    assert len(smemo.runlog(task_id)) == 1
    assert any("running it without Prefect" in m for m in api_log)
    runs.close()


def test_prefect_failing_after_the_run_returns_its_outcome_without_a_second_run(tmp_path, smemo, api_log):
    def prefect_fails_at_the_end(settings, task_id, dry_run, *, runner, lock_wait):
        runner.run_task(task_id, dry_run=dry_run, lock_wait=lock_wait)
        raise RuntimeError("set_state: 503 Service Unavailable")

    runs = _prefect_runs(tmp_path, smemo.url, prefect_fails_at_the_end)
    task_id = smemo.task("abccorp", "mytask.xml", "print('once')")
    outcome = runs(task_id, dry_run=False, lock_wait=0)
    assert outcome.success and outcome.message == "OK"
    assert len(smemo.runlog(task_id)) == 1  # ran once
    assert any("Prefect failed to record it" in m for m in api_log)
    runs.close()
