"""The HTTP API over real HTTP: a uvicorn server on a free loopback port, called with httpx.

Runs go through the Runner itself (``DirectRuns``) with the process sandbox;
tests/api/test_prefect.py covers the same path through the ``memo-task`` flow.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import httpx
import pytest

from api.app import BUSY_MESSAGE
from memo.locks import task_lock
from memo.models import RunOutcome

KEYS = {"idTask", "message", "dateTime", "output", "success"}
AMS = ZoneInfo("Europe/Amsterdam")

# A slow task that writes its export in pieces: a second run overlapping it would show.
SLOW = """\
import sys, time
for i in range(20):
    sys.stdout.write("line %02d %s\\n" % (i, "x" * 60))
    sys.stdout.flush()
    time.sleep({pause})
"""
SLOW_EXPORT = "".join("line %02d %s\n" % (i, "x" * 60) for i in range(20))


def get(url: str, **kwargs) -> httpx.Response:
    return httpx.get(url, timeout=kwargs.pop("timeout", 30), **kwargs)


def assert_task_result(response: httpx.Response, task_id: str, success: bool) -> dict:
    body = response.json()
    assert set(body) == KEYS, body
    assert body["idTask"] == task_id
    assert body["success"] is success
    assert body["output"] is None
    dt.datetime.fromisoformat(body["dateTime"])
    assert response.headers["content-type"] == "application/json"
    return body


# --- 200 / 500 / 404 / 422 -------------------------------------------------------------------


def test_run_200_writes_export_and_runlog(serve, memo):
    url, settings = serve(memo.url)
    task_id = memo.task("abccorp", "mytask.xml", "print('<xml/>')")
    response = get(f"{url}/runtask/{task_id}")
    assert response.status_code == 200
    body = assert_task_result(response, task_id, True)
    assert body["message"] == "OK"
    assert (settings.exports_dir / "abccorp" / "mytask.xml").read_text() == "<xml/>\n"
    assert [(r.is_success, r.message) for r in memo.runlog(task_id)] == [(True, "OK")]


def test_dry_run_200_writes_tmp_export_and_no_runlog(serve, smemo):
    url, settings = serve(smemo.url)
    task_id = smemo.task("abccorp", "mytask.xml", "print('dry')")
    response = get(f"{url}/dryruntask/{task_id}")
    assert response.status_code == 200
    assert assert_task_result(response, task_id, True)["message"] == "OK"
    assert (settings.exports_dir / "tmp" / "abccorp_mytask.xml").read_text() == "dry\n"
    assert not (settings.exports_dir / "abccorp" / "mytask.xml").exists()
    assert smemo.runlog(task_id) == []


def test_failing_script_500_with_exit_code_and_runlog(serve, smemo):
    url, settings = serve(smemo.url)
    task_id = smemo.task("abccorp", "bad.xml", "import sys\nsys.stderr.write('boom\\n')\nraise SystemExit(3)")
    response = get(f"{url}/runtask/{task_id}")
    assert response.status_code == 500
    body = assert_task_result(response, task_id, False)
    assert "code 3" in body["message"] and "boom" in body["message"]
    assert [(r.is_success, r.message) for r in smemo.runlog(task_id)] == [(False, body["message"])]
    # a failed dry run is a 500 too, without a runlog row
    assert get(f"{url}/dryruntask/{task_id}").status_code == 500
    assert len(smemo.runlog(task_id)) == 1


def test_unknown_task_404(serve, smemo):
    url, _ = serve(smemo.url)
    missing = str(uuid.uuid4())
    for path in ("runtask", "dryruntask"):
        response = get(f"{url}/{path}/{missing}")
        assert response.status_code == 404
        assert assert_task_result(response, missing, False)["message"]
    assert smemo.runlog() == []


@pytest.mark.parametrize("bad", ["abc", "1", "5f0c7c1e2b7a4d7e9a590d6f3c1b2a10", "5f0c7c1e-2b7a-4d7e-9a59-0d6f3c1b2a1z",
                                 "'%20OR%201=1", "..%2F..%2Fetc", "5f0c7c1e-2b7a-4d7e-9a59-0d6f3c1b2a10x"])
def test_non_uuid_422_before_anything_runs(serve, smemo, bad):
    calls = []
    url, _ = serve(smemo.url, run=lambda *a, **k: calls.append(a))
    response = httpx.get(f"{url}/runtask/{bad}", timeout=10)
    assert response.status_code in (404, 422)  # 404 only when the id holds a '/', i.e. another path
    if response.status_code == 422:
        body = response.json()
        assert set(body) == KEYS and body["success"] is False and "not a task id" in body["message"]
    assert calls == []


def test_uppercase_uuid_is_passed_unchanged(serve, smemo):
    seen = []

    def run(task_id, *, dry_run, lock_wait):
        seen.append(task_id)
        return RunOutcome(task_id, False, "Task not found", dt.datetime.now(), kind="not_found")

    url, _ = serve(smemo.url, run=run)
    upper = str(uuid.uuid4()).upper()
    assert get(f"{url}/runtask/{upper}").status_code == 404
    assert seen == [upper]


def test_unexpected_exception_is_a_500_task_result(serve, smemo):
    def run(task_id, *, dry_run, lock_wait):
        raise RuntimeError("database exploded")

    url, _ = serve(smemo.url, run=run)
    task_id = str(uuid.uuid4())
    response = get(f"{url}/runtask/{task_id}")
    assert response.status_code == 500
    assert "database exploded" in assert_task_result(response, task_id, False)["message"]


def test_health_and_openapi(serve, smemo):
    url, _ = serve(smemo.url)
    assert get(f"{url}/health").json() == {"status": "ok"}
    doc = get(f"{url}/openapi.json").json()
    assert {"/runtask/{task_id}", "/dryruntask/{task_id}", "/health"} <= set(doc["paths"])
    op = doc["paths"]["/runtask/{task_id}"]["get"]
    assert {"200", "404", "409", "422", "500", "503"} <= set(op["responses"])
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/TaskResult")
    assert set(doc["components"]["schemas"]["TaskResult"]["properties"]) == KEYS
    param = op["parameters"][0]
    assert param["schema"]["format"] == "uuid" and "pattern" in param["schema"]


# --- busy window ------------------------------------------------------------------------------


def test_503_inside_a_window_around_now(serve, smemo):
    now = dt.datetime.now(AMS) - dt.timedelta(minutes=1)
    url, _ = serve(smemo.url, busy_start=now.strftime("%H:%M"), busy_hours=0.5)
    task_id = smemo.task("abccorp", "mytask.xml")
    for path in ("runtask", "dryruntask"):
        response = get(f"{url}/{path}/{task_id}")
        assert response.status_code == 503
        assert response.json() == {"message": BUSY_MESSAGE}
    assert get(f"{url}/health").status_code == 200  # probes are never refused
    assert smemo.runlog(task_id) == []


def test_200_outside_a_window_just_ahead(serve, smemo):
    ahead = dt.datetime.now(AMS) + dt.timedelta(minutes=30)
    url, _ = serve(smemo.url, busy_start=ahead.strftime("%H:%M"), busy_hours=1)
    task_id = smemo.task("abccorp", "mytask.xml")
    assert get(f"{url}/dryruntask/{task_id}").status_code == 200


def test_window_across_midnight_over_http(serve, smemo):
    clock = {"now": None}
    url, _ = serve(smemo.url, busy_start="22:00", busy_hours=4, clock=lambda: clock["now"])
    task_id = smemo.task("abccorp", "mytask.xml")
    for wall, status in [("21:59", 200), ("23:30", 503), ("00:00", 503), ("01:30", 503), ("02:30", 200)]:
        clock["now"] = dt.datetime.combine(dt.date(2024, 12, 1), dt.time.fromisoformat(wall), AMS)
        assert get(f"{url}/dryruntask/{task_id}").status_code == status, wall


# --- token ------------------------------------------------------------------------------------


def test_token_required_when_set(serve, smemo):
    url, _ = serve(smemo.url, http_token="s3cret-t0ken")
    task_id = smemo.task("abccorp", "mytask.xml")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0LXQwa2Vu"},
                    {"Authorization": "Bearer s3cret-t0ke"}, {"Authorization": "s3cret-t0ken"}):
        response = get(f"{url}/dryruntask/{task_id}", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"message": "Missing or invalid bearer token"}
    ok = get(f"{url}/dryruntask/{task_id}", headers={"Authorization": "Bearer s3cret-t0ken"})
    assert ok.status_code == 200 and ok.json()["success"] is True
    assert get(f"{url}/health").status_code == 200  # probes need no token
    doc = get(f"{url}/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_token_is_checked_before_the_busy_window(serve, smemo):
    now = dt.datetime.now(AMS) - dt.timedelta(minutes=1)
    url, _ = serve(smemo.url, http_token="t", busy_start=now.strftime("%H:%M"), busy_hours=1)
    task_id = str(uuid.uuid4())
    assert get(f"{url}/runtask/{task_id}").status_code == 401
    assert get(f"{url}/runtask/{task_id}", headers={"Authorization": "Bearer t"}).status_code == 503


# --- the same task twice, different tasks in parallel, a client that gives up -----------------


def test_same_task_twice_at_once_one_200_one_409_export_whole(serve, smemo):
    url, settings = serve(smemo.url, concurrency=4)
    task_id = smemo.task("abccorp", "slow.txt", SLOW.format(pause=0.05))
    barrier = threading.Barrier(2)

    def call(_):
        barrier.wait()
        return get(f"{url}/runtask/{task_id}")

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(call, range(2)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], [r.text for r in responses]
    busy = next(r for r in responses if r.status_code == 409)
    assert "already running" in assert_task_result(busy, task_id, False)["message"]
    assert (settings.exports_dir / "abccorp" / "slow.txt").read_text() == SLOW_EXPORT
    assert [(r.is_success, r.message) for r in smemo.runlog(task_id)] == [(True, "OK")]


def test_task_running_in_another_process_is_409(serve, smemo):
    # The nightly flow (or a CLI run) holds the host-wide flock of the task.
    url, settings = serve(smemo.url)
    task_id = smemo.task("abccorp", "mytask.xml")
    with task_lock(settings.work_dir, task_id, wait=0):
        response = get(f"{url}/runtask/{task_id}")
    assert response.status_code == 409
    assert "already running" in assert_task_result(response, task_id, False)["message"]
    assert smemo.runlog(task_id) == []  # a refused run is not a run
    assert get(f"{url}/runtask/{task_id}").status_code == 200  # lock released: runs


def test_different_tasks_run_in_parallel(serve, smemo):
    url, _ = serve(smemo.url, concurrency=3)
    ids = [smemo.task("abccorp", f"t{i}.txt", "import time\ntime.sleep(1.5)\nprint('done')") for i in range(3)]
    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda t: get(f"{url}/dryruntask/{t}"), ids))
    wall = time.monotonic() - started
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert wall < 3.5, f"3 x 1.5 s took {wall:.2f} s: not parallel"


def test_concurrency_limit_queues_runs(serve, smemo):
    url, _ = serve(smemo.url, concurrency=1)
    ids = [smemo.task("abccorp", f"q{i}.txt", "import time\ntime.sleep(0.6)\nprint(1)") for i in range(2)]
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda t: get(f"{url}/dryruntask/{t}"), ids))
    assert [r.status_code for r in responses] == [200, 200]
    assert time.monotonic() - started >= 1.2  # one worker: one after the other, both answered


def test_client_that_gives_up_does_not_stop_the_run(serve, smemo, caplog):
    caplog.set_level(logging.INFO, logger="memo.api")
    url, settings = serve(smemo.url)
    task_id = smemo.task("abccorp", "slow.txt", SLOW.format(pause=0.1))  # ~2 s
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{url}/runtask/{task_id}", timeout=0.5)
    deadline = time.monotonic() + 20
    while not smemo.runlog(task_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [(r.is_success, r.message) for r in smemo.runlog(task_id)] == [(True, "OK")]
    assert (settings.exports_dir / "abccorp" / "slow.txt").read_text() == SLOW_EXPORT
    deadline = time.monotonic() + 5
    while not any(task_id in r.getMessage() and "client_gone" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        time.sleep(0.05)


# --- logging ----------------------------------------------------------------------------------


def test_every_request_is_logged(serve, smemo, caplog):
    caplog.set_level(logging.INFO, logger="memo.api")
    url, _ = serve(smemo.url)
    task_id = smemo.task("abccorp", "mytask.xml")
    missing = str(uuid.uuid4())
    get(f"{url}/runtask/{task_id}")
    get(f"{url}/dryruntask/{missing}")
    get(f"{url}/runtask/nope")
    # The line is written once the answer is sent: the client may read it a moment before.
    deadline = time.monotonic() + 5
    while True:
        lines = [r.getMessage() for r in caplog.records if r.name == "memo.api"]
        if sum("status=" in line for line in lines) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    ok = next(line for line in lines if f"/runtask/{task_id}" in line)
    assert f"task={task_id}" in ok and "label=abccorp/mytask.xml" in ok and "client=127.0.0.1:" in ok
    assert "status=200" in ok and "outcome='OK'" in ok and "duration=" in ok
    assert any(f"task={missing}" in line and "status=404" in line for line in lines)
    assert any("task=nope" in line and "status=422" in line for line in lines)
