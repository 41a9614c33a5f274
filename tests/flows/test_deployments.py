"""A real ``prefect server`` (one per session, see conftest): prefect.yaml deployments, workers, scale-out.

- ``deploy/smoke-deployment.sh``: process work pool, ``prefect deploy --all``, a worker,
  ``prefect deployment run 'memo-task/memo-task'``, the export checked;
- scale-out: a night dispatched as ``memo-task`` deployment runs to one pool served by two
  workers (two hosts in production): both do work, no task runs twice.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Memo, make_settings
from tests.flows.conftest import prefect_env, stop_process_group

pytestmark = [pytest.mark.slow, pytest.mark.mariadb]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NIGHT = dt.date(2024, 5, 15)


def _base_env(**extra) -> dict[str, str]:
    return prefect_env(**extra)


@pytest.fixture(scope="session")
def smoke(prefect_server, tmp_path_factory):
    """Run deploy/smoke-deployment.sh once against the module's server (it deploys prefect.yaml)."""
    from tests.conftest import _mariadb_database
    import sqlalchemy as sa
    from memo import schema

    admin, name, url = _mariadb_database()
    engine = sa.create_engine(url)
    schema.create_schema(engine)
    engine.dispose()
    memo = Memo(url)
    task_id = memo.task("abccorp", "smoke.xml", "print('<smoke/>')")
    tmp = tmp_path_factory.mktemp("smoke")
    env = _base_env(PREFECT_API_URL=prefect_server, MEMO_DATABASE_URL=url, MEMO_SANDBOX="process",
                    MEMO_EXPORTS_DIR=str(tmp / "exports"), MEMO_WORK_DIR=str(tmp / "work"),
                    MEMO_SCHEDULE_CRON="0 0 2 * * *", MEMO_TIMEZONE="Europe/Amsterdam",
                    SMOKE_TASK_ID=task_id, SMOKE_EXPECT=str(tmp / "exports" / "abccorp" / "smoke.xml"))
    started = time.monotonic()
    result = subprocess.run(["bash", str(ROOT / "deploy" / "smoke-deployment.sh")], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=400)
    yield dict(result=result, memo=memo, task_id=task_id, tmp=tmp, seconds=time.monotonic() - started)
    memo.engine.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    admin.dispose()


def _client(url):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    class _Ctx:
        def __enter__(self):
            self._settings = temporary_settings(updates={PREFECT_API_URL: url})
            self._settings.__enter__()
            self._client = get_client(sync_client=True)
            return self._client.__enter__()

        def __exit__(self, *exc):
            self._client.__exit__(*exc)
            self._settings.__exit__(*exc)

    return _Ctx()


def test_smoke_script_deploys_and_runs_memo_task_through_a_worker(smoke, prefect_server):
    result = smoke["result"]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "smoke: OK" in result.stdout
    assert (smoke["tmp"] / "exports" / "abccorp" / "smoke.xml").read_text() == "<smoke/>\n"
    assert [bool(r.is_success) for r in smoke["memo"].runlog(smoke["task_id"])] == [True]
    with _client(prefect_server) as client:
        nightly = client.read_deployment_by_name("memo-nightly/memo-nightly")
    # prefect.yaml: MEMO_SCHEDULE_CRON's 6 Spring fields converted, explicit zone
    assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [("0 2 * * *", "Europe/Amsterdam")]
    assert nightly.work_pool_name == "memo-process"


def _worker(name: str, server: str, settings_env: dict, log: Path) -> subprocess.Popen:
    env = _base_env(PREFECT_API_URL=server, **settings_env)
    return subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "memo-process", "--name", name, "--limit", "2"],
        env=env, cwd=ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def test_scale_out_two_workers_share_a_night_and_no_task_runs_twice(smoke, prefect_server, tmp_path, database_url):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.nightly import run_nightly

    assert smoke["result"].returncode == 0, "the deployments are made by the smoke script"
    memo = Memo(database_url)
    # 4 tasks, 2 workers with --limit 2 each: both must take some. The script prints where
    # its tree was: the worker's own work dir (a host's disk in production), read from a
    # traceback (the guard refuses __file__)
    script = ("import time, traceback\ntime.sleep(1)\ntry:\n    raise ValueError\n"
              "except ValueError:\n    print(traceback.format_exc())\n")
    ids = {memo.task(f"client{i % 3}", f"part{i}.txt", script): i for i in range(4)}
    exports = tmp_path / "exports"  # shared by the workers (NFS between hosts in production)
    common = dict(MEMO_DATABASE_URL=database_url, MEMO_SANDBOX="process", MEMO_EXPORTS_DIR=str(exports))
    workers = {name: _worker(name, prefect_server, dict(common, MEMO_WORK_DIR=str(tmp_path / name)),
                             tmp_path / f"{name}.log") for name in ("w1", "w2")}
    try:
        with _client(prefect_server) as client:  # both workers polling before the night starts
            deadline = time.monotonic() + 90
            while {w.name for w in client.read_workers_for_work_pool("memo-process")} < {"w1", "w2"}:
                assert time.monotonic() < deadline, "workers did not register"
                time.sleep(0.5)
        settings = make_settings(tmp_path, database_url, concurrency=4, exports_dir=exports,
                                 work_dir=tmp_path / "dispatcher")
        started = time.monotonic()
        with temporary_settings(updates={PREFECT_API_URL: prefect_server}):
            state = run_nightly(settings, NIGHT, dispatch="deployment")
        seconds = time.monotonic() - started
    finally:
        for proc in workers.values():
            stop_process_group(proc)
    logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace")[-3000:] for name in workers}
    assert state.is_completed(), (state.message, logs)

    ran_on: dict[str, set[str]] = {"w1": set(), "w2": set()}
    for task_id, i in ids.items():
        rows = memo.runlog(task_id)
        assert [bool(r.is_success) for r in rows] == [True], task_id  # ran exactly once
        where = (exports / f"client{i % 3}" / f"part{i}.txt").read_text()
        worker = "w1" if "/w1/" in where else "w2" if "/w2/" in where else None
        assert worker, where
        ran_on[worker].add(task_id)
    assert ran_on["w1"] and ran_on["w2"], ran_on  # both workers did work
    assert not ran_on["w1"] & ran_on["w2"]

    with _client(prefect_server) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["memo-task"])),
            limit=200,
        )
    per_task = {}
    for run in runs:
        per_task.setdefault(run.parameters.get("task_id"), []).append(run)
    for task_id in ids:
        assert len(per_task.get(task_id, [])) == 1, task_id  # one deployment run per task
        assert per_task[task_id][0].state.is_completed()
    print(f"\nscale-out: {len(ids)} tasks over 2 workers in {seconds:.1f} s; "
          f"w1 ran {len(ran_on['w1'])}, w2 ran {len(ran_on['w2'])}")
    memo.engine.dispose()


def test_the_server_unit_records_task_runs_as_the_runner_tunes_it():
    """deploy/prefect-server.service and flows.prefect_settings.PREFECT_SERVER_TUNING must not drift apart."""
    import re
    from pathlib import Path

    from flows.prefect_settings import PREFECT_SERVER_TUNING

    unit = (Path(__file__).resolve().parents[2] / "deploy" / "prefect-server.service").read_text()
    in_unit = dict(re.findall(r"^Environment=(PREFECT_SERVER_SERVICES_\w+)=(\S+)$", unit, re.M))
    assert in_unit == PREFECT_SERVER_TUNING
