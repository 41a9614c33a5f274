"""``memo.stopping`` with the real Runner and process sandbox: a process that is stopping starts
no run, and a script it abandons is killed at once, its export untouched, its runlog row written."""

from __future__ import annotations

import threading
import time

import pytest

from memo import runner as runner_module
from memo.runner import Runner
from memo.sandbox import process as process_sandbox
from memo.stopping import StopRequest
from tests.conftest import make_settings

SLEEPER = "import time\nprint('<partial>', flush=True)\ntime.sleep(60)\nprint('<never/>')\n"


@pytest.fixture
def stop(monkeypatch):
    """A fresh StopRequest in place of the process-wide one (which only ``serve`` sets)."""
    fresh = StopRequest()
    monkeypatch.setattr(runner_module, "STOP", fresh)
    monkeypatch.setattr(process_sandbox, "STOP", fresh)
    return fresh


def _old_export(settings) -> None:
    folder = settings.exports_dir / "abccorp"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sleeper.xml").write_text("<old/>\n")


def test_an_abandoned_script_is_killed_its_export_untouched_and_its_run_logged(memo, tmp_path, database_url, stop):
    settings = make_settings(tmp_path, database_url, task_timeout=120)
    task_id = memo.task("abccorp", "sleeper.xml", SLEEPER)
    _old_export(settings)
    started = time.monotonic()
    runner = Runner(settings)

    def script_started() -> None:  # SIGTERM comes while the script runs; the grace ends 0.5 s later
        stop.begin("the task runner is stopping (SIGTERM)")
        threading.Timer(0.5, stop.abandon).start()

    outcome = runner.run_task(task_id, on_script_start=script_started)
    took = time.monotonic() - started
    assert outcome.kind == "stopped" and not outcome.success, outcome
    assert outcome.message.startswith("Stopped after ") and "(SIGTERM); the export was not replaced" in outcome.message
    assert took < 10, took  # not the script's 60 s
    assert (settings.exports_dir / "abccorp" / "sleeper.xml").read_text() == "<old/>\n"
    assert sorted(p.name for p in (settings.exports_dir / "abccorp").iterdir()) == ["sleeper.xml"]
    rows = memo.runlog(task_id)
    assert len(rows) == 1 and not rows[0].is_success and rows[0].message == outcome.message
    runner.db.dispose()


def test_a_stopping_process_starts_no_run_and_writes_nothing(memo, tmp_path, database_url, stop):
    settings = make_settings(tmp_path, database_url)
    task_id = memo.task("abccorp", "sleeper.xml", "print('<new/>')")
    _old_export(settings)
    stop.begin("the task runner is stopping (SIGTERM)")
    runner = Runner(settings)
    outcome = runner.run_task(task_id)
    assert outcome.kind == "stopping" and outcome.message == "Not run: the task runner is stopping (SIGTERM)"
    assert (settings.exports_dir / "abccorp" / "sleeper.xml").read_text() == "<old/>\n"
    assert memo.runlog(task_id) == []  # never started: no row
    runner.db.dispose()


def test_a_kill_registered_after_abandon_runs_at_once_and_none_is_kept():
    stop = StopRequest()
    killed = []
    with stop.while_running(lambda: killed.append("first")):
        assert stop.abandon() == 1
    assert killed == ["first"] and stop.abandon() == 0  # unregistered when its run ended
    with stop.while_running(lambda: killed.append("late")):
        pass
    assert killed == ["first", "late"] and stop.begun


@pytest.mark.docker
def test_an_abandoned_container_is_killed_and_removed(tmp_path, monkeypatch):
    import io

    from memo.sandbox import docker as docker_sandbox
    from memo.sandbox import make_sandbox
    from memo.sandbox.base import SandboxJob
    from tests.docker.conftest import containers_named, docker_settings, job_name, make_tree

    stop = StopRequest()
    monkeypatch.setattr(docker_sandbox, "STOP", stop)
    sandbox = make_sandbox(docker_settings(tmp_path, timeout=120))
    job = SandboxJob(tree=make_tree(tmp_path, SLEEPER), timeout=120, name=job_name(), labels={"task-id": "t1"})
    threading.Timer(3, stop.abandon).start()  # before or after the container started: killed either way
    started = time.monotonic()
    result = sandbox.run(job, io.BytesIO())
    assert not result.ok and not result.timed_out and time.monotonic() - started < 20, result
    assert containers_named(sandbox.engine.client(), job.name) == []
