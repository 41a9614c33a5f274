"""Load test of the HTTP API over loopback, bounded in count and time.

    .venv/bin/python bench/load_http.py [--requests 200] [--clients 8] [--concurrency 4]
                                         [--time-limit 120] [--via direct|prefect|both]
                                         [--same-task] [--mixed]

``--via both`` runs the same load twice, directly and recorded by Prefect, and prints the
two side by side; with ``prefect`` a ``prefect server`` is started as deploy/ runs it (its
tuning, its niceness) and the ``memo-task`` deployment registered, as ``serve`` does; after
the load the bench counts the flow runs Prefect recorded. ``--mixed`` alternates
``/runtask`` and ``/dryruntask``.

Seeds a throw-away SQLite MEMO database with one small task per client, starts
``python -m api.serve --api-only`` as a separate server process on a free
loopback port (process sandbox), and has ``--clients`` threads in this process
issue ``--requests`` dry runs in all, each client its own task (so none is
refused as already running; ``--same-task`` makes them all hit one task and
shows the 409s). Every request sent must be answered: the script exits 1 if any
is lost (connection error, timeout) or gets a 5xx, 2 if the time limit stopped
the clients before all requests were sent. Prints statuses and latency
p50/p95/max, and a JSON line for the record.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from memo import schema  # noqa: E402
from tests.conftest import Memo  # noqa: E402

SMALL_TASK = "print('<record id=\"1\">small</record>')"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="dry runs in all (default 200)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--concurrency", type=int, default=4, help="server's MEMO_CONCURRENCY (default 4)")
    parser.add_argument("--time-limit", type=float, default=120, help="stop sending after this many s")
    parser.add_argument("--via", choices=["direct", "prefect", "both"], default="direct")
    parser.add_argument("--same-task", action="store_true", help="all clients dry-run one task")
    parser.add_argument("--mixed", action="store_true", help="alternate /runtask and /dryruntask")
    args = parser.parse_args(argv)
    if args.via != "both":
        return run_load(args, args.via)
    results = [(via, run_load(args, via, quiet=True)) for via in ("direct", "prefect")]
    print("\n| via | answered | statuses | recorded | p50 | p95 | max | per s |")
    print("|---|---|---|---|---|---|---|---|")
    for via, (code, r) in results:
        print(f"| {via} | {r['answered']}/{r['requested']} | {r['statuses']} | {r.get('recorded', '-')} | "
              f"{r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms | {r['max_ms']:.0f} ms | {r['per_s']} |")
    return max(code for _, (code, _r) in results)


def registered_memo_task(api_url: str) -> None:
    """The ``memo-task`` deployment, as ``serve`` registers it (the HTTP runs attach to it)."""
    os.environ["PREFECT_API_URL"] = api_url
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.create_deployment(flow_id=client.create_flow_from_name("memo-task"), name="memo-task")


def recorded_runs(api_url: str) -> dict[str, int]:
    """The HTTP app's ``memo-task`` flow runs on the server, by state."""
    os.environ["PREFECT_API_URL"] = api_url
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    states: collections.Counter = collections.Counter()
    with get_client(sync_client=True) as client:
        offset = 0
        while True:  # the API pages by 200 at most
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["memo-http"])),
                                         limit=200, offset=offset)
            states.update(r.state.name for r in runs if r.state)
            if len(runs) < 200:
                return dict(states)
            offset += 200


def wait_for_records(api_url: str, expected: int, limit: float = 300) -> dict:
    """The records follow the answers (flows/recorded.py): wait, the server still up, for the
    last one to reach a final state."""
    waited = time.monotonic()
    while True:
        recorded = recorded_runs(api_url)
        final = sum(n for state, n in recorded.items() if state != "Running")
        if final >= expected or time.monotonic() - waited > limit:
            return {"recorded": recorded, "records_done_s": round(time.monotonic() - waited, 1)}
        time.sleep(0.5)


def run_load(args, via: str, quiet: bool = False):
    """One load against one server process; (exit code, result) when ``quiet``, else the code."""
    if via == "prefect":
        from bench.prefect_server import prefect_server

        home = Path(tempfile.mkdtemp(prefix="memo-load-prefect-"))
        with prefect_server(home / "home", home / "logs") as prefect:
            registered_memo_task(prefect["PREFECT_API_URL"])
            api_url = prefect["PREFECT_API_URL"]
            code, result = _run_load(args, via, {"PREFECT_API_URL": api_url, "PREFECT_HOME": prefect["PREFECT_HOME"]},
                                     after_load=lambda answered: wait_for_records(api_url, answered + 1))
            result.update(result.pop("after_load"))
            print(f"recorded by Prefect: {result['recorded']} of {result['answered'] + 1} runs (the warm-up "
                  f"included), the last {result['records_done_s']} s after the last answer")
        shutil.rmtree(home, ignore_errors=True)
    else:
        code, result = _run_load(args, via, {})
    return (code, result) if quiet else code


def _run_load(args, via: str, extra_env: dict, after_load=None):

    work = Path(tempfile.mkdtemp(prefix="memo-load-"))
    url = f"sqlite:///{work / 'memo.sqlite'}"
    engine = sa.create_engine(url)
    schema.create_schema(engine)
    engine.dispose()
    memo = Memo(url)
    tasks = [memo.task("loadtest", f"task{i}.xml", SMALL_TASK) for i in range(1 if args.same_task else args.clients)]
    memo.engine.dispose()

    port = free_port()
    env = {
        **os.environ,
        "MEMO_DATABASE_URL": url,
        "MEMO_EXPORTS_DIR": str(work / "exports"),
        "MEMO_WORK_DIR": str(work / "work"),
        "MEMO_SANDBOX": "process",
        "MEMO_HTTP_HOST": "127.0.0.1",
        "MEMO_HTTP_PORT": str(port),
        "MEMO_BUSY_HOURS": "0",
        "MEMO_CONCURRENCY": str(args.concurrency),
        "MEMO_HTTP_VIA": via,
        **extra_env,
        "PYTHONPATH": str(ROOT),
        # --via prefect without PREFECT_API_URL: the server process starts Prefect's temporary
        # API on its first run; give it time on a busy machine, and keep it offline.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": os.environ.get(
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("MEMO_HTTP_TOKEN", None)
    log_path = work / "server.log"
    with open(log_path, "w") as log_file:
        # Own process group: whatever the server starts (Prefect's temporary server) ends with it.
        server = subprocess.Popen([sys.executable, "-m", "api.serve", "--api-only"], cwd=ROOT, env=env,
                                  stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print(log_path.read_text()[-3000:], file=sys.stderr)
                raise SystemExit("server did not start")
            time.sleep(0.1)

        # One dry run before the clock starts: the first run pays one-off costs (imports; with
        # --via prefect and no PREFECT_API_URL, starting Prefect's temporary server).
        started = time.perf_counter()
        warmup = httpx.get(f"{base}/dryruntask/{tasks[0]}", timeout=300)
        warmup_ms = (time.perf_counter() - started) * 1000
        if warmup.status_code != 200:
            print(log_path.read_text()[-3000:], file=sys.stderr)
            raise SystemExit(f"warm-up dry run answered {warmup.status_code}: {warmup.text}")

        statuses: collections.Counter = collections.Counter()
        latencies: list[float] = []
        lost: list[str] = []
        lock = threading.Lock()
        counter = iter(range(args.requests))
        turns = [itertools.count() for _ in range(args.clients)]
        stop_at = time.monotonic() + args.time_limit

        def client(n: int) -> None:
            task_id = tasks[n % len(tasks)]
            with httpx.Client(base_url=base, timeout=300) as http:
                while time.monotonic() < stop_at:
                    with lock:
                        if next(counter, None) is None:
                            return
                    path = "runtask" if args.mixed and next(turns[n]) % 2 else "dryruntask"
                    started = time.perf_counter()
                    try:
                        response = http.get(f"/{path}/{task_id}")
                        elapsed = time.perf_counter() - started
                        with lock:
                            statuses[response.status_code] += 1
                            latencies.append(elapsed)
                    except httpx.HTTPError as exc:
                        with lock:
                            lost.append(f"{type(exc).__name__}: {exc}")

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - started
        after = after_load(sum(statuses.values())) if after_load else None
    finally:
        server.terminate()  # serve() stops gracefully on SIGTERM and exits 0
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        try:
            os.killpg(server.pid, signal.SIGTERM)  # anything of the group still alive
        except ProcessLookupError:
            pass

    server_log = log_path.read_text(errors="replace")
    answered = sum(statuses.values())
    sent = answered + len(lost)
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    ms = [x * 1000 for x in latencies]
    result = {
        "via": via, "mixed": args.mixed, "clients": args.clients, "concurrency": args.concurrency,
        "tasks": len(tasks), "requested": args.requests, "sent": sent, "answered": answered,
        "lost": len(lost), "statuses": dict(sorted(statuses.items())), "wall_s": round(wall, 2),
        "per_s": round(answered / wall, 1) if wall else None,
        "p50_ms": round(percentile(ms, 0.50), 1), "p95_ms": round(percentile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1) if ms else None,
        "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
        "warmup_ms": round(warmup_ms, 1),
        "ran_without_prefect": sum(server_log.count(w) for w in (
            "without Prefect", "without recording it", "runs unrecorded", "did not create the flow run")),
        "prefect_api_503s": server_log.count('"HTTP/1.1 503'),
        "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
    }
    if after is not None:
        result["after_load"] = after
    print(f"{answered}/{args.requests} dry runs answered in {wall:.1f} s ({result['per_s']}/s), "
          f"{args.clients} clients, server concurrency {args.concurrency}, via {via}")
    print(f"statuses {result['statuses']}, lost {len(lost)}, 5xx {server_errors}"
          + (f"; Prefect API answered 503 {result['prefect_api_503s']} times (retried), "
             f"{result['ran_without_prefect']} run(s) went unrecorded" if via == "prefect" else ""))
    print(f"latency p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, max {result['max_ms']} ms "
          f"(first run before the clock: {result['warmup_ms']} ms; load average {result['load_avg_1m']}, "
          f"{result['cpus']} CPUs)")
    print(json.dumps(result))
    for line in lost[:5]:
        print("lost:", line, file=sys.stderr)
    if server_errors or lost:
        print(f"FAILED: {server_errors} server errors, {len(lost)} lost (server log: {log_path})", file=sys.stderr)
        return 1, result
    if sent < args.requests:
        print(f"INCOMPLETE: the {args.time_limit:g} s time limit stopped the clients after {sent} of "
              f"{args.requests} requests (all of those answered)", file=sys.stderr)
        return 2, result
    shutil.rmtree(work, ignore_errors=True)
    return 0, result


if __name__ == "__main__":
    sys.exit(main())
