"""A night that fails because some of its tasks failed ends Failed with its summary, and no
crash report: run as a worker runs it (``python -m prefect.engine``), as ``memo-taskrunner
serve`` serves it (``python -m flows.service``) and in-process (``memo-taskrunner nightly``).

Prefect's engine turns a flow's *returned* ``Failed`` state into a ``FailedRun`` exception
once the state is recorded, and logs it as "Engine execution exited with unexpected
exception" with a traceback: a failed night is no crash, so the flows keep that out of the
run's logs and the process output (``flows.failures.failed``).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.flows.conftest import artifact_rows, prefect_env, stop_process_group

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.mariadb]

ROOT = Path(__file__).resolve().parents[2]
NIGHT = dt.date(2024, 5, 15)
CRASH_SIGNS = ("Traceback", "unexpected exception", "FailedRun")


def _two_of_three_fail_midway(memo) -> dict[str, str]:
    """Three due tasks; the second fails: the third must still run."""
    return {
        "first": memo.task("abccorp", "first.xml", "print('<one/>')"),
        "broken": memo.task("defgroup", "broken.xml", "import sys\nprint('half')\nsys.exit(3)"),
        "last": memo.task("zeta", "last.json", "print('{}')"),
    }


def _child_env(settings, harness_url: str, tmp_path: Path, **extra) -> dict[str, str]:
    """A worker's or served process's environment: the Prefect API and the MEMO_* settings."""
    return prefect_env(
        PREFECT_API_URL=harness_url, PREFECT_HOME=str(tmp_path / "prefect-home"),
        MEMO_DATABASE_URL=settings.database_url, MEMO_SANDBOX="process",
        MEMO_EXPORTS_DIR=str(settings.exports_dir), MEMO_WORK_DIR=str(settings.work_dir),
        MEMO_TIMEZONE=settings.timezone, MEMO_TASK_TIMEOUT="30", **extra)


def _flow_run(flow_run_id):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def _run_logs(flow_run_id) -> list:
    """The run's log records as the Prefect API holds them (the UI's "Logs" tab)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))


def _assert_failed_night_reported_plainly(flow_run_id, output: str, memo, ids) -> None:
    run = _flow_run(flow_run_id)
    assert run.state.is_failed(), run.state
    message = run.state.message
    assert message.startswith(f"night {NIGHT}: 2 of 3 task(s) succeeded, 1 failed: defgroup/broken.xml: "), message
    assert "exited with code 3" in message
    # the rest of the night ran: the task after the failing one too
    assert [bool(r.is_success) for r in memo.runlog(ids["last"])] == [True]
    assert [bool(r.is_success) for r in memo.runlog(ids["broken"])] == [False]
    rows = {r["task"]: r["status"] for r in artifact_rows(run.state)}
    assert rows == {"first.xml": "Completed", "broken.xml": "Failed (script)", "last.json": "Completed"}

    logs = _run_logs(flow_run_id)
    errors = [log.message for log in logs if log.level >= 40]
    assert any(e.startswith(f"night {NIGHT}: 2 of 3 task(s) succeeded, 1 failed") for e in errors), errors
    crash = [log.message for log in logs if any(sign in log.message for sign in CRASH_SIGNS)]
    assert crash == [], crash
    assert not [sign for sign in CRASH_SIGNS if sign in output], output[-4000:]


def test_a_failed_night_run_by_a_worker_ends_failed_with_its_summary_and_no_traceback(
        memo, tmp_path, database_url, prefect_harness):
    """What a process worker does with a flow run: ``python -m prefect.engine`` in a child."""
    from prefect.client.orchestration import get_client

    from flows.nightly import memo_nightly

    ids = _two_of_three_fail_midway(memo)
    settings = make_settings(tmp_path, database_url)
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(memo_nightly, parameters={"run_date": NIGHT.isoformat()})
    env = _child_env(settings, prefect_harness, tmp_path, PREFECT__FLOW_RUN_ID=str(flow_run.id),
                     PREFECT__FLOW_ENTRYPOINT="flows/nightly.py:memo_nightly")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "prefect.engine"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    print(f"\nengine run of a failed night: {time.monotonic() - started:.1f} s, exit {done.returncode}")
    _assert_failed_night_reported_plainly(flow_run.id, done.stdout + done.stderr, memo, ids)


def test_a_failed_memo_task_run_by_a_worker_ends_failed_with_no_traceback(
        memo, tmp_path, database_url, prefect_harness):
    """A night dispatched to workers is memo-task runs: a failed one is no crash either."""
    from prefect.client.orchestration import get_client

    from flows.task import memo_task

    task_id = memo.task("defgroup", "broken.xml", "import sys\nsys.exit(3)")
    settings = make_settings(tmp_path, database_url)
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(memo_task, parameters={"task_id": task_id})
    env = _child_env(settings, prefect_harness, tmp_path, PREFECT__FLOW_RUN_ID=str(flow_run.id),
                     PREFECT__FLOW_ENTRYPOINT="flows/task.py:memo_task")
    done = subprocess.run([sys.executable, "-m", "prefect.engine"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    state = _flow_run(flow_run.id).state
    assert state.is_failed() and state.message.startswith("defgroup/broken.xml: "), state
    assert "exited with code 3" in state.message
    output = done.stdout + done.stderr
    assert not [sign for sign in CRASH_SIGNS if sign in output], output[-4000:]
    crash = [log.message for log in _run_logs(flow_run.id) if any(s in log.message for s in CRASH_SIGNS)]
    assert crash == [], crash


def test_a_failed_night_of_the_served_deployment_ends_failed_with_no_traceback(
        memo, tmp_path, database_url, prefect_harness):
    """``memo-taskrunner serve``'s child (flows/service.py) runs a memo-nightly deployment run."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    ids = _two_of_three_fail_midway(memo)
    settings = make_settings(tmp_path, database_url)
    log = tmp_path / "service.log"
    env = _child_env(settings, prefect_harness, tmp_path, PREFECT_RUNNER_POLL_FREQUENCY="1",
                     MEMO_SCHEDULE_CRON="0 0 2 * * *")
    service = subprocess.Popen([sys.executable, "-m", "flows.service"], env=env, cwd=ROOT,
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    started = time.monotonic()
    try:
        with get_client(sync_client=True) as client:
            deployment = None
            while deployment is None:
                assert service.poll() is None and time.monotonic() - started < 120, log.read_text()[-3000:]
                try:
                    deployment = client.read_deployment_by_name("memo-nightly/memo-nightly")
                except ObjectNotFound:  # not served yet
                    time.sleep(0.5)
            flow_run = client.create_flow_run_from_deployment(deployment.id,
                                                              parameters={"run_date": NIGHT.isoformat()})
            while not (run := client.read_flow_run(flow_run.id)).state.is_final():
                assert time.monotonic() - started < 240, log.read_text()[-3000:]
                time.sleep(0.5)
        time.sleep(1)  # the runner's last lines about the finished process
    finally:
        stop_process_group(service)
    print(f"\nserved failed night: {time.monotonic() - started:.1f} s to a final state ({run.state.name})")
    _assert_failed_night_reported_plainly(flow_run.id, log.read_text(errors="replace"), memo, ids)


def test_memo_taskrunner_nightly_exits_1_on_a_failed_night_and_prints_no_traceback(
        memo, tmp_path, database_url, prefect_harness):
    """The operator's ``memo-taskrunner nightly``: the flow in-process, its exit code from the state."""
    ids = _two_of_three_fail_midway(memo)
    settings = make_settings(tmp_path, database_url)
    env = _child_env(settings, prefect_harness, tmp_path)
    started = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).parent / "memo-taskrunner"), "nightly", "--date",
                           NIGHT.isoformat()], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    print(f"\nmemo-taskrunner nightly of a failed night: {time.monotonic() - started:.1f} s")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-4000:]
    assert not [sign for sign in CRASH_SIGNS if sign in output], output[-4000:]
    assert f"night {NIGHT}: 2 of 3 task(s) succeeded, 1 failed" in output
    assert [bool(r.is_success) for r in memo.runlog(ids["last"])] == [True]


def test_only_the_report_of_a_returned_failed_state_is_dropped():
    """A real crash keeps its traceback: another exception, or a FailedRun the flows never returned."""
    import logging

    from prefect.exceptions import FailedRun

    from flows.failures import failed

    state = failed("night 2024-05-15: 0 of 1 task(s) succeeded, 1 failed: a/b.xml: boom")
    assert state.is_failed() and state.message.endswith("a/b.xml: boom")
    kept = {}
    for name in ("prefect.flow_runs", "prefect.engine"):  # the loggers of the engine's two reports
        logger = logging.getLogger(name)
        for exc in (FailedRun(state.message), FailedRun("a crash of another run"), ValueError(state.message)):
            record = logger.makeRecord(name, logging.ERROR, __file__, 0,
                                       "Engine execution exited with unexpected exception", (),
                                       (type(exc), exc, None))
            kept[name, type(exc).__name__, str(exc)] = bool(logger.filter(record))
    assert kept == {(name, kind, text): text != state.message or kind != "FailedRun"
                    for name in ("prefect.flow_runs", "prefect.engine")
                    for kind, text in (("FailedRun", state.message), ("FailedRun", "a crash of another run"),
                                       ("ValueError", state.message))}
