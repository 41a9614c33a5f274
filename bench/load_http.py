"""Load test of the HTTP API over loopback, bounded in count and time.

    .venv/bin/python bench/load_http.py [--requests 200] [--clients 8] [--concurrency 4]
                                         [--time-limit 120] [--via direct|prefect] [--same-task]

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
    parser.add_argument("--via", choices=["direct", "prefect"], default="direct")
    parser.add_argument("--same-task", action="store_true", help="all clients dry-run one task")
    args = parser.parse_args(argv)

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
        "MEMO_HTTP_VIA": args.via,
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
        stop_at = time.monotonic() + args.time_limit

        def client(n: int) -> None:
            task_id = tasks[n % len(tasks)]
            with httpx.Client(base_url=base, timeout=300) as http:
                while time.monotonic() < stop_at:
                    with lock:
                        if next(counter, None) is None:
                            return
                    started = time.perf_counter()
                    try:
                        response = http.get(f"/dryruntask/{task_id}")
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
        "via": args.via, "clients": args.clients, "concurrency": args.concurrency,
        "tasks": len(tasks), "requested": args.requests, "sent": sent, "answered": answered,
        "lost": len(lost), "statuses": dict(sorted(statuses.items())), "wall_s": round(wall, 2),
        "per_s": round(answered / wall, 1) if wall else None,
        "p50_ms": round(percentile(ms, 0.50), 1), "p95_ms": round(percentile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1) if ms else None,
        "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
        "warmup_ms": round(warmup_ms, 1),
        "ran_without_prefect": server_log.count("running it without Prefect"),
        "prefect_api_503s": server_log.count('"HTTP/1.1 503'),
        "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
    }
    print(f"{answered}/{args.requests} dry runs answered in {wall:.1f} s ({result['per_s']}/s), "
          f"{args.clients} clients, server concurrency {args.concurrency}, via {args.via}")
    print(f"statuses {result['statuses']}, lost {len(lost)}, 5xx {server_errors}"
          + (f"; Prefect API answered 503 {result['prefect_api_503s']} times (retried), "
             f"{result['ran_without_prefect']} run(s) fell back to no Prefect" if args.via == "prefect" else ""))
    print(f"latency p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, max {result['max_ms']} ms "
          f"(first run before the clock: {result['warmup_ms']} ms; load average {result['load_avg_1m']}, "
          f"{result['cpus']} CPUs)")
    print(json.dumps(result))
    for line in lost[:5]:
        print("lost:", line, file=sys.stderr)
    if server_errors or lost:
        print(f"FAILED: {server_errors} server errors, {len(lost)} lost (server log: {log_path})", file=sys.stderr)
        return 1
    if sent < args.requests:
        print(f"INCOMPLETE: the {args.time_limit:g} s time limit stopped the clients after {sent} of "
              f"{args.requests} requests (all of those answered)", file=sys.stderr)
        return 2
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
