"""The API's default path: each request is a ``memo-task`` flow run in the server process.

One Prefect test harness for this module's session (≈ 10 s); the flows run in the
server's worker threads and are read back from the Prefect API.
"""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

import httpx  # noqa: E402
import pytest  # noqa: E402

from api.runs import PrefectRuns, make_run  # noqa: E402


@pytest.fixture(scope="module")
def prefect_api():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


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


def test_requests_are_memo_task_flow_runs(prefect_api, serve, smemo):
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
