"""The nightly flow's cost per task in what a loaded machine does not move: calls to Prefect and CPU.

A night's wall-clock overhead per task (BENCHMARKS.md, "Per-task overhead") swings with the
load of this shared 2-core machine by more than a change of our code could. Two things of
it do not (much): how many requests and events the flow process sends Prefect per task —
the server's work follows them (a task run's states travel as events) — and the CPU seconds
the flow process itself spends per task.
This runs ``flows.nightly.run_nightly`` (process sandbox, SQLite, trivial tasks, concurrency
1) in a child process per night, against one ``prefect server`` shared by every checkout,
for a night of ``--warm`` tasks and one of ``--warm`` + ``--tasks``, and reports the
differences per task (imports and a night's fixed calls cancelled out), by endpoint.

    .venv/bin/python bench/bench_flow_calls.py --root . --root ../other-checkout

Each ``--root`` is a checkout of memo-taskrunner (the same venv and Prefect): two checkouts
compare two versions of the code on one input and one server.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.prefect_server import PREFECT_ENV, prefect_server  # noqa: E402

CHILD = r"""
import collections, datetime as dt, json, re, resource, sys, tempfile
from pathlib import Path
root, n, report = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, root)
import httpx

calls = collections.Counter()
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
def endpoint(request):
    return f"{request.method} {ID.sub('{id}', request.url.path)}"
sync_send, async_send = httpx.Client.send, httpx.AsyncClient.send
def counted_send(self, request, *a, **k):
    calls[endpoint(request)] += 1
    return sync_send(self, request, *a, **k)
async def counted_async_send(self, request, *a, **k):
    calls[endpoint(request)] += 1
    return await async_send(self, request, *a, **k)
httpx.Client.send, httpx.AsyncClient.send = counted_send, counted_async_send
from prefect.events.clients import EventsClient
events_emit = EventsClient.emit
async def counted_emit(self, event):
    calls["event " + event.event] += 1
    return await events_emit(self, event)
EventsClient.emit = counted_emit

import sqlalchemy as sa
from memo import schema
from tests.conftest import Memo, make_settings
from flows.nightly import run_nightly

work = Path(tempfile.mkdtemp(prefix="memo-calls-"))
url = f"sqlite:///{work / 'memo.sqlite'}"
schema.create_schema(sa.create_engine(url))
memo = Memo(url)
for i in range(n):
    memo.task("abccorp", f"t{i:04d}.txt", "print('hello')")
state = run_nightly(make_settings(work, url, concurrency=1), dt.date(2026, 12, 1))
assert state.is_completed(), state
from prefect.logging.handlers import APILogHandler
APILogHandler().flush()
from prefect.events.worker import EventsWorker
EventsWorker.drain_all(timeout=30)
usage = resource.getrusage(resource.RUSAGE_SELF)
Path(report).write_text(json.dumps({"calls": calls, "cpu": usage.ru_utime + usage.ru_stime}))
"""


def night(root: Path, n: int, api_url: str) -> dict:
    """The flow process's API calls by endpoint and its CPU seconds, for a night of ``n`` tasks."""
    with tempfile.TemporaryDirectory(prefix="memo-flow-") as tmp:
        report = Path(tmp) / "report.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "PREFECT_"))}
        env.update(PREFECT_ENV, PYTHONPATH=str(root), PREFECT_API_URL=api_url, PREFECT_HOME=str(Path(tmp) / "home"))
        done = subprocess.run([sys.executable, "-c", CHILD, str(root), str(n), str(report)],
                              env=env, cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0 or not report.exists():
            sys.exit(f"the night under {root} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(report.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", action="append", type=Path, help="a checkout to measure (default: this one)")
    parser.add_argument("--warm", type=int, default=5, help="tasks of the first night (default 5)")
    parser.add_argument("--tasks", type=int, default=40, help="tasks the second night has more (default 40)")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of nights per checkout (default 2)")
    args = parser.parse_args(argv)
    roots = [r.resolve() for r in (args.root or [ROOT])]
    results: dict[Path, list[tuple[collections.Counter, float]]] = {r: [] for r in roots}
    with tempfile.TemporaryDirectory(prefix="memo-flow-server-") as tmp, \
            prefect_server(Path(tmp) / "home", Path(tmp) / "logs") as server:
        for round_ in range(args.rounds):
            for root in roots:  # alternating, so that a burst of load hits every checkout alike
                api = server["PREFECT_API_URL"]
                short, long = night(root, args.warm, api), night(root, args.warm + args.tasks, api)
                calls = collections.Counter(long["calls"])
                calls.subtract(short["calls"])
                results[root].append((calls, (long["cpu"] - short["cpu"]) / args.tasks))
                print(f"round {round_ + 1} {root}: {sum(calls.values()) / args.tasks:.1f} calls and events and "
                      f"{results[root][-1][1] * 1000:.1f} ms of CPU per further task", flush=True)
    print()
    print("| checkout | requests + events per task | of which | flow process CPU per task (rounds) |")
    print("|---|---:|---|---:|")
    for root, rounds in results.items():
        calls = rounds[0][0]
        top = ", ".join(f"{k} {v / args.tasks:.1f}" for k, v in calls.most_common() if abs(v) >= args.tasks / 2)
        cpu = " / ".join(f"{c * 1000:.1f} ms" for _, c in rounds)
        print(f"| {root.name} | {sum(calls.values()) / args.tasks:.1f} | {top} | {cpu} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
