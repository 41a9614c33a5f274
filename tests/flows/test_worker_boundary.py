"""The Prefect server and the work-pool setup of prefect.yaml, started as deploy/ prescribes (issue 12).

One real ``prefect server`` for the module, started as deploy/prefect-server.service starts
it (its Environment= lines, /etc/memo-taskrunner/secrets.env from ``memo-taskrunner
setup-secrets``, its ExecStart): it refuses the finding's request without credentials and
serves clients that send ``PREFECT_API_AUTH_STRING``; ``doctor`` tells the closed API from
an open one; and a guard-clean script, run by a worker started as deploy/memo-worker.service
starts it (pool ``memo-process``, ``prefect deploy --all``, a ``memo-task`` flow run), reaches
the Prefect API neither with nor without the credentials, while the same probes from the
host do; and the same for ``memo-taskrunner serve`` started as deploy/memo-http.service starts
it next to that server: the HTTP API wants the bearer token by default, and a guard-clean script
run through ``GET /runtask/{id}`` in a real container reaches neither the Prefect API (with or
without the credentials) nor the runner's HTTP API, while the same probes from the host do.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.control_plane import (
    BIN,
    ROOT,
    ClosedPlane,
    Unit,
    assert_closed,
    export_of,
    guard_is_clean,
    http_targets,
    prefect_targets,
    probe_from_host,
    probe_script,
    wait_http,
)
from tests.flows.conftest import stop_process_group

pytestmark = [pytest.mark.slow, pytest.mark.mariadb, pytest.mark.docker]

HELLO_FLOW = (
    "from prefect import flow\n"
    "@flow(name='hello-auth')\n"
    "def hello():\n"
    "    return 42\n"
    "print('result', hello())\n"
)


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    """(host, memo): a host set up as the README says, its Prefect server running, a MEMO database
    (memo.env names a free port for the HTTP API of ``serve``); started when the flows tests
    began (tests/flows/conftest.py), else now."""
    from tests.flows.conftest import take_early_closed_plane

    plane = take_early_closed_plane() or ClosedPlane(tmp_path_factory.mktemp("control-plane"))
    try:
        plane.wait()
        yield plane.host, plane.memo
    finally:
        plane.stop()


def _filter(host, headers: dict) -> httpx.Response:
    return httpx.post(f"{host.prefect_url}/block_documents/filter", json={"include_secrets": True},
                      headers=headers, timeout=10)


def test_the_server_unit_loads_the_secrets_file_and_refuses_requests_without_credentials(closed):
    host, _ = closed
    assert ("/etc/memo-taskrunner/secrets.env", True) in Unit.read("prefect-server.service").environment_files
    auth = host.secrets["PREFECT_SERVER_API_AUTH_STRING"]
    assert _filter(host, {}).status_code == 401
    assert _filter(host, {"Authorization": "Basic " + _b64("memo:wrong")}).status_code == 401
    assert _filter(host, {"Authorization": "Basic " + _b64(auth)}).status_code == 200
    assert httpx.get(f"{host.prefect_url}/health", timeout=10).status_code == 200  # probes stay open
    # the UI (served by the same unit) asks for the auth string: it shows a login page
    ui = httpx.get(f"http://127.0.0.1:{host.prefect_port}/ui-settings", timeout=10).json()
    assert ui["auth"] == "BASIC"


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def test_clients_with_the_auth_string_run_flows_and_others_are_refused(closed, tmp_path):
    host, _ = closed
    env = host.operator_env()
    done = subprocess.run([sys.executable, "-c", HELLO_FLOW], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "result 42" in done.stdout, done.stdout[-2000:] + done.stderr[-3000:]
    runs = httpx.post(f"{host.prefect_url}/flow_runs/filter", timeout=10,
                      headers={"Authorization": "Basic " + _b64(env["PREFECT_API_AUTH_STRING"])},
                      json={"flows": {"name": {"any_": ["hello-auth"]}}}).json()
    assert [r["state_type"] for r in runs] == ["COMPLETED"]

    del env["PREFECT_API_AUTH_STRING"]
    refused = subprocess.run([sys.executable, "-c", HELLO_FLOW], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=180)
    assert refused.returncode != 0 and "401" in refused.stdout + refused.stderr, refused.stderr[-3000:]


def _doctor(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "memo-taskrunner"), "doctor"], env=env, capture_output=True, text=True,
                          timeout=120)


def test_doctor_tells_the_closed_api_from_an_open_one(closed, prefect_harness, tmp_path):
    host, _ = closed
    closed_env = host.operator_env(MEMO_CONTAINER_NETWORK="none")
    without = {k: v for k, v in closed_env.items() if k != "PREFECT_API_AUTH_STRING"}
    # a Prefect profile (`prefect config set ...`) instead of the environment is read too:
    # its URL is probed, with its (here stale) auth string
    profile_home = tmp_path / "prefect-home"
    profile_home.mkdir()
    (profile_home / "profiles.toml").write_text(
        f'active = "memo"\n[profiles.memo]\nPREFECT_API_URL = "{host.prefect_url}"\n'
        'PREFECT_API_AUTH_STRING = "memo:rotated-away"\n')
    by_profile = {k: v for k, v in without.items() if k != "PREFECT_API_URL"}
    # an open API (the session's harness), the host network, no token on a public address:
    # three warnings, and the exit status is still 0 (a night would run)
    opened = dict(without, PREFECT_API_URL=prefect_harness, MEMO_CONTAINER_NETWORK="host",
                  MEMO_HTTP_HOST="0.0.0.0")
    del opened["MEMO_HTTP_TOKEN"]
    envs = [closed_env, without, dict(by_profile, PREFECT_HOME=str(profile_home)), opened]
    with ThreadPoolExecutor(len(envs)) as pool:  # four separate `doctor` processes, side by side
        closed_out, without_out, profile_out, opened_out = pool.map(_doctor, envs)

    out = closed_out
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok    Prefect API" in out.stdout and "WARN" not in out.stdout, out.stdout

    out = without_out
    assert out.returncode == 1 and "FAIL  Prefect API: " in out.stdout and "(401)" in out.stdout, out.stdout

    out = profile_out
    assert out.returncode == 1 and "refuses this PREFECT_API_AUTH_STRING (401)" in out.stdout, out.stdout

    out = opened_out
    assert out.returncode == 0, out.stdout + out.stderr
    warnings = [line for line in out.stdout.splitlines() if line.startswith("WARN  ")]
    assert [w.split(":")[0] for w in warnings] == ["WARN  container network", "WARN  Prefect API", "WARN  HTTP API"]
    assert "MEMO_CONTAINER_NETWORK=host" in warnings[0] and "answers without authentication" in warnings[1]


def test_a_script_run_by_the_worker_reaches_no_control_plane(closed, tmp_path):
    host, memo = closed
    targets = prefect_targets(host.prefect_url, host.secrets["PREFECT_API_AUTH_STRING"])
    script = probe_script(targets)
    guard_is_clean(script, tmp_path)
    task_id = memo.task("abccorp", "worker-probe.json", script, sql=None, start_date=dt.date(2099, 1, 1))

    operator = host.operator_env()  # the README's root shell: pool and deployments, once
    for argv in (["prefect", "work-pool", "create", "memo-process", "--type", "process"],
                 ["prefect", "--no-prompt", "deploy", "--all"]):
        done = subprocess.run([str(BIN / argv[0]), *argv[1:]], env=operator, cwd=ROOT,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    log = tmp_path / "worker.log"
    worker = Unit.read("memo-worker.service").start(host, log, PREFECT_WORKER_QUERY_SECONDS="1")  # polls faster
    try:
        run = subprocess.run(
            [str(BIN / "prefect"), "deployment", "run", "memo-task/memo-task", "--param", f"task_id={task_id}",
             "--watch", "--watch-interval", "1", "--watch-timeout", "240"],
            env=operator, cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        stop_process_group(worker)
    worker_log = log.read_text(errors="replace")[-4000:]
    assert run.returncode == 0 and "Completed" in run.stdout, run.stdout[-2000:] + worker_log

    exports = Path(host.memo_env["MEMO_EXPORTS_DIR"])
    assert_closed(export_of(exports, "abccorp", "worker-probe.json"), probe_from_host(targets))


def test_a_script_run_through_serve_reaches_no_control_plane(closed, tmp_path):
    host, memo = closed
    http_url = f"http://127.0.0.1:{host.memo_env['MEMO_HTTP_PORT']}"
    token = host.secrets["MEMO_HTTP_TOKEN"]
    targets = {**prefect_targets(host.prefect_url, host.secrets["PREFECT_API_AUTH_STRING"]),
               **http_targets(http_url, token)}
    script = probe_script(targets)
    guard_is_clean(script, tmp_path)
    task_id = memo.task("abccorp", "serve-probe.json", script, sql=None, start_date=dt.date(2099, 1, 1))

    log = tmp_path / "memo-http.log"
    serve = Unit.read("memo-http.service").start(host, log)
    try:
        wait_http(f"{http_url}/health", serve, log)
        assert httpx.get(f"{http_url}/runtask/{task_id}", timeout=30).status_code == 401  # token by default
        answer = httpx.get(f"{http_url}/runtask/{task_id}", headers={"Authorization": f"Bearer {token}"},
                           timeout=180)
        assert answer.status_code == 200, answer.text + log.read_text(errors="replace")[-4000:]
        assert answer.json()["success"] is True
        from_host = probe_from_host(targets)
    finally:
        stop_process_group(serve)
    output = log.read_text(errors="replace")
    assert "Prefect could not run task" not in output and "failed to record" not in output, output[-4000:]
    assert_closed(export_of(Path(host.memo_env["MEMO_EXPORTS_DIR"]), "abccorp", "serve-probe.json"), from_host)
