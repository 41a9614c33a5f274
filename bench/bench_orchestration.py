"""Prefect's orchestration overhead per MEMO task: the nightly flow against the same tasks run bare.

    .venv/bin/python bench/bench_orchestration.py [--tasks 100] [--concurrency 1] [--rounds 3]
        [--mariadb] [--api-url URL] [--docker]

One MEMO database of N trivial tasks (``print('hello')``, all due), the process
sandbox. Each round runs the night three ways, in turn (so a burst of load on a
shared machine hits all alike), and the median over the rounds is reported:

- **scripts**: each task's script run directly, ``python main.py`` > file — no runner;
- **runner**: ``Runner.run_task`` for every due task (selection, database, guard,
  tree, sandbox, export, runlog) scheduled as the flow schedules them (twice
  MEMO_CONCURRENCY threads, the ``Lookahead``) — no Prefect;
- **nightly**: ``flows.nightly.run_nightly`` — the ``memo-nightly`` flow with a task
  run per MEMO task, against a real ``prefect server`` (started here unless
  ``--api-url``; its start-up is reported apart, it is not part of a night), run as
  deploy/prefect-server.service runs it (``PREFECT_SERVER_TUNING``, its ``Nice=``),
  Prefect logging at its default level (INFO: a line per task run to the API).

Before each measured night the server is let settle (``settle``): a night of N task
runs leaves it seconds of event and log ingestion, which would otherwise land on the
next measurement (nights are a day apart in production); the server's CPU for the
night is read after it settled, so it includes that ingestion.

The issue's overhead per task is (nightly − scripts) / N: everything the runner and
Prefect add to a bare script; (nightly − runner) / N is Prefect's share. The CPU line
says what the wall times hide: how much work each part does per task. A second, smaller night (N/5 tasks,
``--small``) splits Prefect's cost into a fixed part per night (flow run creation,
states, artifact: API round trips) and a marginal part per task. ``--docker`` also times one task in
the docker sandbox (needs ``docker/podman-up.sh``) for the "well under 10 % of a
container run" comparison (image ``MEMO_DOCKER_IMAGE``, default ``localhost/memo-python:latest``;
``eval "$(bash docker/podman-up.sh | tail -1)"`` first).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect logs at its production level (INFO: a line per task run goes to the API); the console stays quiet.
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")

NIGHT = dt.date(2024, 6, 3)
SCRIPT = "print('hello')\n"


def seed(url: str, n: int) -> list[str]:
    import sqlalchemy as sa

    from memo import schema
    from tests.conftest import Memo

    engine = sa.create_engine(url)
    schema.create_schema(engine)
    engine.dispose()
    memo = Memo(url)
    ids = [memo.task(f"client{i % 10}", f"task{i:03d}.txt", SCRIPT) for i in range(n)]
    memo.engine.dispose()
    return ids


def run_scripts(folder: Path, n: int, concurrency: int) -> float:
    trees = []
    for i in range(n):
        tree = folder / f"t{i}"
        tree.mkdir(parents=True, exist_ok=True)
        (tree / "main.py").write_text(SCRIPT)
        trees.append(tree)

    def one(tree: Path) -> None:
        with open(tree / "out", "wb") as out:
            subprocess.run([sys.executable, "main.py"], cwd=tree, stdout=out, stderr=subprocess.PIPE, check=True)

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, trees))
    return time.monotonic() - started


def settle(api: str, limit: float = 90) -> None:
    """Wait until the Prefect server has worked off the previous night's events.

    A night of N task runs leaves the server seconds of event and log ingestion into
    its SQLite database; meanwhile writes wait for the lock (a new flow run may get
    503s and retry after 2, 4, 8 s). Nights are a day apart in production; here the
    next measurement would pay for the previous one. The probe is a write (a Prefect
    Variable), since reads pass while writes queue. Both ways settle alike.
    """
    import httpx

    deadline = time.monotonic() + limit
    quick = 0
    name = "memo-bench-settle"
    with httpx.Client(base_url=api, timeout=60) as client:
        if client.get(f"/variables/name/{name}").status_code == 404:
            client.post("/variables/", json={"name": name, "value": 0})
        i = 0
        while quick < 3 and time.monotonic() < deadline:
            i += 1
            started = time.monotonic()
            response = client.patch(f"/variables/name/{name}", json={"value": i})
            fast = response.status_code < 300 and time.monotonic() - started < 0.1
            quick = quick + 1 if fast else 0
            time.sleep(0.3)


def run_runner(settings) -> float:
    from memo.lookahead import Lookahead, prepare_ahead_threads
    from memo.runner import Runner
    from memo.selection import select_due_tasks

    started = time.monotonic()
    runner = Runner(settings)
    runner.remove_orphans()
    due = select_due_tasks(runner.db.candidate_tasks(NIGHT), NIGHT).due
    lookahead = Lookahead(settings.concurrency)  # the flow's scheduling, without Prefect

    def one(task_id: str):
        return runner.run_task(task_id, on_script_start=lambda: lookahead.started(task_id))

    with ThreadPoolExecutor(prepare_ahead_threads(settings.concurrency)) as pool:
        futures = [lookahead.submit(t.id, lambda t=t: pool.submit(one, t.id)) for t in due]
        outcomes = [f.result() for f in futures]
    runner.db.dispose()
    assert all(o.success for o in outcomes), [o.message for o in outcomes if not o.success][:3]
    return time.monotonic() - started


def run_flow(settings) -> float:
    from flows.nightly import run_nightly

    started = time.monotonic()
    state = run_nightly(settings, NIGHT)
    elapsed = time.monotonic() - started
    assert state.is_completed(), state.message
    return elapsed


def measure_rounds(api, args, folder, settings, small, small_n, server_pid):
    """The rounds: each night three ways (and the small night), the server settled before each."""
    run_flow(settings.model_copy(update={"concurrency": 1}))  # warm-up: imports, flow registration
    run_runner(settings)
    scripts, runner, nightly, runner_s, nightly_s, cpu = [], [], [], [], [], []
    for r in range(args.rounds):
        settle(api)
        scripts.append(run_scripts(folder / f"scripts{r}", args.tasks, args.concurrency))
        settle(api)
        runner.append(run_runner(settings))
        settle(api)
        before = cpu_now(server_pid)
        nightly.append(run_flow(settings))
        settle(api)  # the server's CPU for the night includes the events it ingests after it
        cpu.append([b - a for a, b in zip(before, cpu_now(server_pid))])
        if small is not None:
            settle(api)
            runner_s.append(run_runner(small))
            settle(api)
            nightly_s.append(run_flow(small))
        print(f"round {r + 1}: scripts {scripts[-1]:.2f} s, runner {runner[-1]:.2f} s, "
              f"nightly {nightly[-1]:.2f} s" + (f"; {small_n} tasks: runner {runner_s[-1]:.2f} s, "
                                                f"nightly {nightly_s[-1]:.2f} s" if small else ""),
              file=sys.stderr)
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # before the server goes
    return scripts, runner, nightly, runner_s, nightly_s, cpu


def cpu_now(server_pid: int | None) -> tuple[float, float, float]:
    """CPU seconds so far: this process (runner + Prefect client), its reaped children (the
    scripts), and the Prefect server's process tree (0 when it is not ours)."""
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system, tree_cpu(server_pid) if server_pid else 0.0


def tree_cpu(root: int) -> float:
    """utime + stime of ``root`` and its descendants, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += used.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def docker_run_seconds(settings, task_id: str, runs: int = 10) -> float | None:
    from memo.runner import Runner

    try:
        image = os.environ.get("MEMO_DOCKER_IMAGE", "localhost/memo-python:latest")
        runner = Runner(settings.model_copy(update={"sandbox": "docker", "docker_image": image}))
        if runner.sandbox.problems():
            print("docker sandbox not usable:", runner.sandbox.problems(), file=sys.stderr)
            return None
        runner.run_task(task_id)  # warm-up
        times = []
        for _ in range(runs):
            outcome = runner.run_task(task_id)
            if not outcome.success:
                print("docker run failed:", outcome.message, file=sys.stderr)
                return None
            times.append(outcome.duration)
        return statistics.median(times)
    except Exception as exc:  # noqa: BLE001 - an optional row: whatever stops the container runs, the rest stand
        print(f"docker sandbox not usable: {exc}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, help="tasks of the smaller night (default N/5; 0: none)")
    parser.add_argument("--mariadb", action="store_true", help="a throw-away MariaDB database, not SQLite")
    parser.add_argument("--api-url", help="a running Prefect server's API (default: start one)")
    parser.add_argument("--docker", action="store_true", help="also time one task in the docker sandbox")
    args = parser.parse_args(argv)

    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger().handlers[0].setLevel(logging.ERROR)  # memo.* lines still go to the API
    from memo.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="bench-orch-"))
    admin = dbname = None
    if args.mariadb:
        import sqlalchemy as sa

        base = os.environ.get("MEMO_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306")
        dbname = f"memo_bench_{secrets.token_hex(4)}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE `{dbname}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        url = f"{base}/{dbname}?charset=utf8mb4"
    else:
        url = f"sqlite:///{folder / 'memo.sqlite'}"
    ids = seed(url, args.tasks)
    settings = Settings(database_url=url, exports_dir=folder / "exports", work_dir=folder / "work",
                        sandbox="process", task_timeout=60, concurrency=args.concurrency)
    small_n = args.tasks // 5 if args.small is None else args.small
    small = None
    if small_n:
        small_url = f"sqlite:///{folder / 'memo-small.sqlite'}" if not args.mariadb else url.replace(
            f"/{dbname}?", f"/{dbname}_s?")
        if args.mariadb:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE `{dbname}_s` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        seed(small_url, small_n)
        small = settings.model_copy(update={"database_url": small_url, "work_dir": folder / "work-small",
                                            "exports_dir": folder / "exports-small"})
    server_start = server_pid = None
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from bench.prefect_server import prefect_server, server_nice

        with contextlib.ExitStack() as stack:
            if args.api_url:
                api = args.api_url
            else:
                env = stack.enter_context(prefect_server(folder / "prefect-home", folder / "logs"))
                api, server_start, server_pid = env["PREFECT_API_URL"], env["startup_s"], env["pid"]
            with temporary_settings(updates={PREFECT_API_URL: api}):
                rounds = measure_rounds(api, args, folder, settings, small, small_n, server_pid)
        container = docker_run_seconds(settings, ids[0]) if args.docker else None
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{dbname}`")
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{dbname}_s`")
    scripts, runner, nightly, runner_s, nightly_s, cpu = rounds

    n = args.tasks
    med = statistics.median
    s, ru, ni = med(scripts), med(runner), med(nightly)
    prefect_ms = (ni - ru) / n * 1000
    total_ms = (ni - s) / n * 1000
    print(f"\n{n} tasks, process sandbox, concurrency {args.concurrency}, "
          f"{'MariaDB' if args.mariadb else 'SQLite'}, median of {args.rounds} rounds\n")
    print("| way | night wall time, median (min–max) | per task |")
    print("|---|---|---|")
    for label, values in (("scripts: bare `python main.py`", scripts),
                          ("runner: `Runner.run_task`, no Prefect", runner),
                          ("nightly: `memo-nightly` flow", nightly)):
        print(f"| {label} | {med(values):.2f} s ({min(values):.2f}–{max(values):.2f}) "
              f"| {med(values) / n * 1000:.1f} ms |")
    print(f"\nPrefect overhead per task: (nightly − runner) / {n} = **{prefect_ms:.1f} ms**")
    print(f"Runner + Prefect overhead per task over a bare script: (nightly − scripts) / {n} = {total_ms:.1f} ms")
    per_round = [ni_ - ru_ for ni_, ru_ in zip(nightly, runner)]
    print(f"per round (nightly − runner) / {n}: " + ", ".join(f"{d / n * 1000:.1f}" for d in per_round)
          + f" ms; best round {min(per_round) / n * 1000:.1f} ms")
    if small is not None:
        big_cost, small_cost = med(per_round), med([a - b for a, b in zip(nightly_s, runner_s)])
        marginal = (big_cost - small_cost) / (n - small_n)
        fixed = small_cost - marginal * small_n
        print(f"split with a {small_n}-task night: fixed per night ≈ {fixed:.2f} s, "
              f"marginal per task ≈ {marginal * 1000:.1f} ms")
    if cpu:
        own, kids, server = (med([c[i] for c in cpu]) / n * 1000 for i in range(3))
        print(f"CPU per task in a nightly: runner + Prefect client {own:.1f} ms, the script {kids:.1f} ms"
              + (f", Prefect server (nice {server_nice()}) {server:.1f} ms" if server_pid else ""))
    if server_start is not None:
        print(f"prefect server start-up (not part of a night): {server_start:.1f} s")
    if container is not None:
        print(f"one task in the docker sandbox: {container * 1000:.0f} ms median → orchestration overhead "
              f"(nightly − scripts) = {total_ms / (container * 1000) * 100:.1f} % of a container run "
              f"(Prefect's share, nightly − runner: {prefect_ms / (container * 1000) * 100:.1f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
