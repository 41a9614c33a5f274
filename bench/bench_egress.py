"""The egress forwarder's cost: per run against a bare container, throughput against a direct connection.

    . var/podman/env && .venv/bin/python bench/bench_egress.py [--runs 30] [--repeats 5] [--quick]

(``bench/run_all.py --only egress`` runs the same and writes it into the report.)

- **Per run**: ``DockerSandbox.run`` of ``print('hello')``, network ``none`` both sides:
  bare (``MEMO_CONTAINER_ALLOW=""``: no forwarder, no relay) against the default
  (``127.0.0.1:3306``: the forwarder as PID 1, the relay's sockets created and removed),
  alternating after two warm-ups each. The forwarder's cost is the difference.
- **Throughput**, the same container image and script, alternating: through the
  forwarder (network ``none``) against a direct connection (network ``host``: the
  script's own socket on the host's loopback), and the same code on the host itself
  (no container). Two loads: a 100k-row query result (≈ 104 MB) read with
  mysql-connector, as a sniplet does; and a raw TCP stream of 256 MB from a server of
  the benchmark's own on the host's loopback (the relay's ceiling, no SQL decoding);
  and 2,000 small queries one after another (the two extra hops' latency). Each
  script times itself, so container start-up is not in it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import fresh_dir, log  # noqa: E402
from bench.results import Section, Table  # noqa: E402
from bench.runner_settings import IMAGE, docker_host, docker_problem  # noqa: E402
from bench.stats import Stat, mmm, ratio  # noqa: E402

MB = 1_000_000
HELLO = "print('hello')\n"
QUERY_ROWS = 100_000
QUERY = "SELECT seq, REPEAT(SHA2(seq, 256), 16) FROM mysql.seq_1_to_{rows} ORDER BY seq"
QUERY_SCRIPT = '''
import hashlib, json, time
import mysql.connector
started = time.monotonic()
connection = mysql.connector.connect(host="127.0.0.1", port=3306, user="root")
cursor = connection.cursor()
cursor.execute(QUERY)
digest, size = hashlib.sha256(), 0
for seq, text in cursor:
    row = ("%d:%s\\n" % (seq, text)).encode()
    digest.update(row)
    size += len(row)
connection.close()
print(json.dumps({"bytes": size, "seconds": time.monotonic() - started, "sha256": digest.hexdigest()}))
'''
ROUND_TRIPS = 2000
ROUND_TRIP_SCRIPT = '''
import json, time
import mysql.connector
connection = mysql.connector.connect(host="127.0.0.1", port=3306, user="root")
cursor = connection.cursor()
started = time.monotonic()
for i in range(ROUND_TRIPS):
    cursor.execute("SELECT %d" % i)
    cursor.fetchall()
seconds = time.monotonic() - started
connection.close()
print(json.dumps({"queries": ROUND_TRIPS, "seconds": seconds}))
'''
STREAM_SCRIPT = '''
import json, socket, time
started = time.monotonic()
s = socket.create_connection(("127.0.0.1", PORT), timeout=60)
buffer = bytearray(1 << 20)
size = 0
while True:
    n = s.recv_into(buffer)
    if not n:
        break
    size += n
s.close()
print(json.dumps({"bytes": size, "seconds": time.monotonic() - started}))
'''


class StreamServer:
    """Sends ``size`` bytes on every connection, on a free port of the host's loopback."""

    def __init__(self, size: int):
        self.size = size
        self.server = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        block = bytes(range(256)) * 4096
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._send, args=(conn, block), daemon=True).start()

    def _send(self, conn: socket.socket, block: bytes) -> None:
        left = self.size
        try:
            with conn:
                while left > 0:
                    conn.sendall(block[: min(left, len(block))])
                    left -= min(left, len(block))
        except OSError:
            pass

    def close(self) -> None:
        self.server.close()


def sandbox(work: Path, **container):
    from memo.sandbox.docker import DockerSandbox
    from memo.settings import ContainerSettings

    values = {"docker_host": docker_host(), "network": "none", **container}
    return DockerSandbox(ContainerSettings(**values), IMAGE)


def tree_with(work: Path, name: str, body: str) -> Path:
    tree = work / name
    tree.mkdir(mode=0o755, parents=True, exist_ok=True)
    (tree / "main.py").write_text(body)
    os.chmod(tree / "main.py", 0o644)
    return tree


def run_once(box, tree: Path, tag: str) -> tuple[float, bytes]:
    from memo.sandbox.base import SandboxJob

    out = io.BytesIO()
    t0 = time.perf_counter()
    name = f"memo-bench-egress-{os.getpid()}-{tag.replace(' ', '-')}"
    result = box.run(SandboxJob(tree=tree, timeout=600, name=name), out)
    elapsed = time.perf_counter() - t0
    if not result.ok:
        raise RuntimeError(f"{tag}: exit {result.exit_code}: {result.stderr_tail[-500:]}")
    return elapsed, out.getvalue()


def per_run_cost(work: Path, runs: int) -> dict[str, Stat]:
    """Wall time of a trivial run, bare against with the forwarder, alternating."""
    boxes = {"bare": sandbox(work, allow=""), "forwarder": sandbox(work)}
    tree = tree_with(work, "hello", HELLO)
    times: dict[str, list[float]] = {name: [] for name in boxes}
    for i in range(runs + 2):
        for name, box in boxes.items():
            elapsed, out = run_once(box, tree, f"{name}-{i}")
            assert out == b"hello\n", out
            if i >= 2:  # two warm-ups each
                times[name].append(elapsed)
    stats = {name: Stat.of(values) for name, values in times.items()}
    stats["difference"] = Stat.of(f - b for f, b in zip(times["forwarder"], times["bare"]))
    return stats


def host_script(body: str) -> dict:
    """The same script on the host, no container (the venv's mysql-connector)."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout)


def throughput(work: Path, repeats: int, rows: int, stream_bytes: int) -> dict[str, dict[str, Stat]]:
    """MB/s of each load (ms per query for round trips) through the forwarder, directly
    (network host) and on the host."""
    server = StreamServer(stream_bytes)
    loads = {
        "query": f"QUERY = {QUERY.format(rows=rows)!r}\n" + QUERY_SCRIPT,
        "stream": f"PORT = {server.port}\n" + STREAM_SCRIPT,
        "round trips": f"ROUND_TRIPS = {ROUND_TRIPS}\n" + ROUND_TRIP_SCRIPT,
    }
    paths = {
        "forwarder": sandbox(work, allow=f"127.0.0.1:3306,127.0.0.1:{server.port}"),
        "direct": sandbox(work, network="host"),
    }
    rates: dict[str, dict[str, list[float]]] = {load: {p: [] for p in (*paths, "host")} for load in loads}
    digests: set[str] = set()
    try:
        for load, body in loads.items():
            tree = tree_with(work, load, body)
            for i in range(repeats + 1):
                for path, box in paths.items():
                    _, out = run_once(box, tree, f"{load}-{path}-{i}")
                    seen = json.loads(out)
                    digests.add(seen.get("sha256", ""))
                    if i:  # the first round warms the engine and the database's caches
                        rates[load][path].append(figure(seen))
                if i:
                    seen = host_script(body)
                    digests.add(seen.get("sha256", ""))
                    rates[load]["host"].append(figure(seen))
                log(f"egress throughput {load} round {i}: " + ", ".join(
                    f"{p} {v[-1]:.0f} MB/s" for p, v in rates[load].items() if v))
    finally:
        server.close()
    if len(digests - {""}) != 1:
        raise AssertionError(f"the query's results differ between paths: {digests}")
    return {load: {p: Stat.of(v) for p, v in by_path.items()} for load, by_path in rates.items()}


def figure(seen: dict) -> float:
    """MB/s of a load that moved bytes; ms per query of round trips."""
    if "queries" in seen:
        return seen["seconds"] * 1000 / seen["queries"]
    return seen["bytes"] / MB / seen["seconds"]


def mbs(value: float) -> str:
    return f"{value:,.0f}"


def cost_table(cost: dict[str, Stat], runs: int) -> Table:
    table = Table(f"Cost per run: `DockerSandbox.run` of `print('hello')`, {runs} runs each, alternating",
                  ["path (network none both)", "median (ms)", "min", "max", "vs bare"])
    table.add("bare container (`MEMO_CONTAINER_ALLOW=\"\"`)", *mmm(cost["bare"]), "×1.00")
    table.add("with the forwarder (allow `127.0.0.1:3306`)", *mmm(cost["forwarder"]),
              ratio(cost["forwarder"].median, cost["bare"].median))
    table.add("**forwarder's cost per run** (paired difference)", *mmm(cost["difference"]), "")
    return table


def throughput_table(rates: dict[str, dict[str, Stat]], rows: int, stream_mb: float, repeats: int) -> Table:
    table = Table(f"Throughput (MB/s) and round trips (ms per query), median of {repeats} (min–max), "
                  "same run, alternating",
                  ["load", "through the forwarder", "direct (network host)", "host, no container",
                   "forwarder vs direct"])
    names = {"query": f"query result, {rows:,} rows ≈ {rows * 1.04e-3:.0f} MB (mysql-connector), MB/s",
             "stream": f"raw TCP stream, {stream_mb:.0f} MB (socket), MB/s",
             "round trips": f"{ROUND_TRIPS:,} `SELECT n` one after another (mysql-connector), ms per query"}
    for load, by_path in rates.items():
        show = mbs if load != "round trips" else (lambda v: f"{v:.3f}")
        cells = [f"{show(s.median)} ({show(s.min)}–{show(s.max)})" for s in by_path.values()]
        table.add(names[load], *cells, ratio(by_path["forwarder"].median, by_path["direct"].median))
    return table


def measure(work: Path, *, runs: int, repeats: int, quick: bool) -> tuple[Table, Table]:
    rows = 20_000 if quick else QUERY_ROWS
    stream = (64 if quick else 256) * MB
    log(f"egress: per-run cost, {runs} runs each")
    cost = per_run_cost(work, runs)
    log("egress: throughput")
    rates = throughput(work, repeats, rows, stream)
    return cost_table(cost, runs), throughput_table(rates, rows, stream / MB, repeats)


INTRO = (
    "Scripts run with network `none`; the allowed endpoints (`MEMO_CONTAINER_ALLOW`) are relayed "
    "by a forwarder that is the container's PID 1 (`memo/sandbox/egress_forwarder.py`) over one "
    "unix socket per endpoint to the runner, which connects each to its endpoint only "
    "(`memo/sandbox/egress.py`; docs/docker.md, \"Egress\"). Per run: the same trivial script with "
    "and without the forwarder, both network `none`. Throughput: the same script in the same image "
    "through the forwarder, with its own socket on the host's loopback (network `host`), and on the "
    "host with no container; each script times itself from connect to last byte."
)
NOTE = (
    "The script image here has no bytecode caches (`docker/podman-up.sh` prunes `__pycache__`, as the "
    "official python images do, and the read-only root keeps Python from writing any): every "
    "pure-Python module a container imports is compiled again. The forwarder therefore imports only "
    "C modules (`_socket`, `select`, `_signal`) and `ctypes`."
)


def run(ctx) -> Section:
    section = Section("egress", "Egress forwarder: cost per run and throughput", intro=INTRO)
    problem = docker_problem()
    if problem:
        section.notes.append(f"NOT measured: {problem}.")
        return section
    work = fresh_dir(ctx.work / "egress")
    runs = 5 if ctx.quick else 6 * ctx.repeats
    tables = measure(work, runs=runs, repeats=1 if ctx.quick else ctx.repeats, quick=ctx.quick)
    section.tables.extend(tables)
    section.notes.append(NOTE)
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="trivial runs per path (default 30)")
    parser.add_argument("--repeats", type=int, default=5, help="throughput rounds per path (default 5)")
    parser.add_argument("--quick", action="store_true", help="smaller loads, one round")
    args = parser.parse_args(argv)
    problem = docker_problem()
    if problem:
        sys.exit(problem)
    work = fresh_dir(ROOT / "var" / "bench" / "egress")
    try:
        tables = measure(work, runs=args.runs, repeats=1 if args.quick else args.repeats, quick=args.quick)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    print(f"load average {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    for table in tables:
        print("\n" + table.markdown())
    print("\n" + NOTE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
