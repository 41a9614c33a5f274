"""What the benchmark sections share: timing and statistics, result tables, the machine,
a bulk MEMO seeder (SQLite or a throw-away MariaDB database), settings, child
processes, and a Prefect server of the suite's own.

Every section returns a ``Section`` (tables, goals, notes, profiles);
``bench/run_all.py`` writes them to BENCHMARKS.md. Each figure is a median over
repeated runs with its min and max, and its ratio to a baseline measured in the
same run.

Child processes: ``python -m bench.common MODULE:FUNCTION 'JSON kwargs'`` runs one
function in a fresh interpreter and writes its JSON result to ``$BENCH_RESULT``;
the measured paths run there, so each starts clean and its memory is its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PY = sys.executable
IMAGE = os.environ.get("MEMO_BENCH_DOCKER_IMAGE", "localhost/memo-python:latest")
MARIADB_URL = os.environ.get(
    "MEMO_BENCH_MARIADB_URL", os.environ.get("MEMO_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306")
)
NIGHT = dt.date(2024, 6, 3)
"""The night the benchmarks run (a Monday); every seeded task is due on it."""
EMPTY_NIGHT = dt.date(2023, 6, 1)
"""A night before every task's start: a flow run with nothing due (warm-up)."""
START = dt.date(2024, 1, 1)

# Prefect offline and quiet about telemetry, in this process and in every child.
PREFECT_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


# -- statistics -------------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    """Median, min and max of repeated measurements (seconds, bytes, whatever the unit)."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> "Stat":
        values = tuple(float(v) for v in values)
        if not values:
            raise ValueError("no measurements")
        return cls(values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    @property
    def n(self) -> int:
        return len(self.values)

    def scaled(self, factor: float) -> "Stat":
        return Stat(tuple(v * factor for v in self.values))


def measure(fn: Callable[[], object], repeats: int, warmup: int = 1) -> Stat:
    """Wall time of ``fn`` over ``repeats`` runs after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return Stat.of(times)


def ms(seconds: float, digits: int | None = None) -> str:
    value = seconds * 1000
    if digits is None:
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}"


def secs(seconds: float) -> str:
    return f"{seconds:,.2f}" if seconds < 100 else f"{seconds:,.1f}"


def ratio(value: float, base: float) -> str:
    if not base:
        return "n/a"
    return f"×{value / base:.2f}" if value / base < 100 else f"×{value / base:,.0f}"


def mmm(stat: Stat, fmt: Callable[[float], str] = ms) -> list[str]:
    """Median, min, max cells."""
    return [fmt(stat.median), fmt(stat.min), fmt(stat.max)]


# -- results ----------------------------------------------------------------------------


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        out = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
               "|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.columns))) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.notes:
            out.append("")
            out += self.notes
        return "\n".join(out)

    def text(self) -> str:
        widths = [max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
                  for i, c in enumerate(self.columns)]
        line = lambda cells: "  ".join(  # noqa: E731
            (c.ljust(w) if i == 0 else c.rjust(w)) for i, (c, w) in enumerate(zip(cells, widths))
        )
        return "\n".join([self.title, line(self.columns)] + [line(r) for r in self.rows])


@dataclass
class Goal:
    name: str
    target: str
    measured: str
    met: bool | None
    """None: could not be measured in this run."""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "**MISSED**", None: "not measured"}[self.met]


@dataclass
class Section:
    name: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: list[tuple[str, str]] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)
    seconds: float = 0.0
    error: str | None = None


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {message}", file=sys.stderr, flush=True)


# -- the machine ------------------------------------------------------------------------


def _first(pattern: str, text: str, default: str = "?") -> str:
    match = re.search(pattern, text, re.M)
    return match.group(1).strip() if match else default


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
        return out.strip().splitlines()[0] if out.strip() else "?"
    except (OSError, subprocess.SubprocessError):
        return "not installed"


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = int(_first(r"^MemTotal:\s+(\d+)", meminfo, "0"))
    from importlib.metadata import PackageNotFoundError, version

    try:
        libs = ", ".join(f"{n} {version(n)}" for n in ("prefect", "sqlalchemy", "pymysql", "libcst", "docker"))
    except PackageNotFoundError:
        libs = "?"
    return {
        "CPU": _first(r"^model name\s*:\s*(.+)$", cpuinfo),
        "cores": str(os.cpu_count()),
        "RAM": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "OS": _first(r'^PRETTY_NAME="?([^"\n]+)', Path("/etc/os-release").read_text()
                     if Path("/etc/os-release").exists() else ""),
        "Python": f"{platform.python_version()} ({PY})",
        "Podman": _version(["podman", "--version"]),
        "MariaDB": mariadb_version(),
        "libraries": libs,
        "disk": _disk(),
    }


def _disk() -> str:
    try:
        out = subprocess.run(["df", "-hT", str(ROOT)], capture_output=True, text=True, timeout=10).stdout
        fields = out.splitlines()[1].split()
        return f"{fields[0]} ({fields[1]}), {fields[4]} free"
    except Exception:  # noqa: BLE001 - a machine fact is best effort: the report goes on without it
        return "?"


def mariadb_version() -> str:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(MARIADB_URL, connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            v = conn.exec_driver_sql("SELECT VERSION()").scalar()
        engine.dispose()
        return str(v)
    except Exception as exc:  # noqa: BLE001 - a machine fact is best effort: the report says why it is missing
        return f"unreachable ({exc.__class__.__name__})"


# -- a MEMO database, seeded in bulk ------------------------------------------------------


TRIVIAL = "print('<record id=\"1\">ok</record>')\n"


class BenchMemo:
    """A MEMO database of the benchmark's own: SQLite file, or a MariaDB ``memo_bench_<hex>`` dropped at close."""

    def __init__(self, url: str, admin=None, name: str | None = None):
        import sqlalchemy as sa

        from memo import schema

        self.url = url
        self.engine = sa.create_engine(url)
        self._admin = admin
        self._name = name
        schema.create_schema(self.engine)
        self.clients: dict[str, str] = {}

    @classmethod
    def sqlite(cls, folder: Path) -> "BenchMemo":
        folder.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{folder / 'memo.sqlite'}")

    @classmethod
    def mariadb(cls) -> "BenchMemo":
        import sqlalchemy as sa

        name = f"memo_bench_{secrets.token_hex(6)}"
        admin = sa.create_engine(MARIADB_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        return cls(f"{MARIADB_URL}/{name}?charset=utf8mb4", admin, name)

    def close(self) -> None:
        self.engine.dispose()
        if self._admin is not None:
            with self._admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{self._name}`")
            self._admin.dispose()

    def __enter__(self) -> "BenchMemo":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _bulk(self, table, rows: list[dict], chunk: int = 5000) -> None:
        with self.engine.begin() as conn:
            for i in range(0, len(rows), chunk):
                conn.execute(table.insert(), rows[i : i + chunk])

    def add_clients(self, usernames: Iterable[str]) -> None:
        from memo import schema

        rows = []
        for u in usernames:
            if u not in self.clients:
                self.clients[u] = str(uuid.uuid4())
                rows.append({"id": self.clients[u], "name": u.title(), "username": u})
        if rows:
            self._bulk(schema.homedir, rows)

    def add_library(self, sniplets: dict[str, str] | None = None, queries: dict[str, str] | None = None) -> None:
        from memo import schema

        if sniplets:
            self._bulk(schema.script, [{"id": str(uuid.uuid4()), "name": n, "type": "SNIP", "body": b}
                                       for n, b in sniplets.items()])
        if queries:
            self._bulk(schema.query, [{"id": str(uuid.uuid4()), "name": n, "body": b, "is_library": True}
                                      for n, b in queries.items()])

    def add_tasks(self, tasks: list[dict]) -> list[str]:
        """Bulk tasks. Each dict: username, file_name, and optionally body (None: no script),
        sql (own query), frequency, start_date, is_active. Returns the ids in order."""
        from memo import schema

        self.add_clients({t["username"] for t in tasks})
        queries, scripts, rows, ids = [], [], [], []
        for t in tasks:
            name = f"{t['username']}:{t['file_name'].replace('.', '_', 1)}".lower()
            query_id = script_id = None
            if t.get("sql") is not None:
                query_id = str(uuid.uuid4())
                queries.append({"id": query_id, "name": name, "body": t["sql"], "is_library": False})
            if t.get("body") is not None:
                script_id = str(uuid.uuid4())
                scripts.append({"id": script_id, "id_query": query_id, "name": name, "type": "MAIN",
                                "body": t["body"]})
            task_id = str(uuid.uuid4())
            ids.append(task_id)
            rows.append({
                "id": task_id, "id_homedir": self.clients[t["username"]], "id_script": script_id,
                "file_name": t["file_name"], "extension": t["file_name"].rsplit(".", 1)[-1],
                "start_date": t.get("start_date", START), "frequency": t.get("frequency", "D"),
                "is_active": t.get("is_active", True),
            })
        self._bulk(schema.query, queries)
        self._bulk(schema.script, scripts)
        self._bulk(schema.task, rows)
        return ids

    def trivial_tasks(self, n: int, body: str = TRIVIAL, clients: int = 10) -> list[str]:
        """``n`` tasks due every day, each with its own query and the same small script."""
        return self.add_tasks([
            {"username": f"client{i % clients:03d}", "file_name": f"task{i:05d}.xml", "body": body,
             "sql": f"SELECT {i} AS id"}
            for i in range(n)
        ])

    def runlog_count(self) -> int:
        import sqlalchemy as sa

        from memo import schema

        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(schema.runlog)).scalar()


# -- settings ---------------------------------------------------------------------------


def docker_host() -> str | None:
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    env = ROOT / "var" / "podman" / "env"
    if env.exists():
        match = re.search(r"DOCKER_HOST=(\S+)", env.read_text())
        if match:
            return match.group(1).strip("'\"")
    return None


def docker_problem() -> str | None:
    """Why the docker sandbox cannot be benchmarked here, or None."""
    host = docker_host()
    if not host:
        return "no DOCKER_HOST and no var/podman/env (run `make podman`)"
    try:
        import docker

        api = docker.APIClient(base_url=host, version="1.41", timeout=10)
        api.ping()
        api.inspect_image(IMAGE)
        api.close()
    except Exception as exc:  # noqa: BLE001 - any failure is the reason the docker rows are skipped
        return f"Docker API at {host} or image {IMAGE} unusable: {exc.__class__.__name__}: {exc}"
    return None


def bench_settings(folder: Path, url: str, sandbox: str = "process", container: dict | None = None,
                   **overrides):
    """The runner's settings for a benchmark: everything under ``folder``, network none for containers."""
    from memo.settings import ContainerSettings, Settings

    container = ContainerSettings(**{"docker_host": docker_host(), "network": "none", **(container or {})})
    values = dict(
        database_url=url,
        exports_dir=folder / "exports",
        work_dir=folder / "work",
        sandbox=sandbox,
        docker_image=IMAGE,
        task_timeout=3600,
        timezone="Europe/Amsterdam",
        concurrency=1,
        container=container,
    )
    values.update(overrides)
    return Settings(**values)


def settings_dict(settings) -> dict:
    return settings.model_dump(mode="json")


def settings_from(data: dict):
    from memo.settings import ContainerSettings, Settings

    data = dict(data)
    data["container"] = ContainerSettings(**data["container"])
    return Settings(**data)


def scrub_memo_env() -> None:
    """Settings read ``MEMO_*`` from the environment *over* the values given: drop them here."""
    for key in [k for k in os.environ if k.startswith("MEMO_") and not k.startswith("MEMO_BENCH_")]:
        os.environ.pop(key)


# -- child processes --------------------------------------------------------------------


@dataclass
class ChildResult:
    data: dict
    wall: float
    maxrss_kb: int
    """ru_maxrss of the child's own process tree (wait4): the child or its biggest waited-for descendant."""


def run_child(target: str, kwargs: dict, *, logs: Path, env: dict | None = None,
              timeout: float = 3600) -> ChildResult:
    """Run ``MODULE:FUNCTION(**kwargs)`` in a fresh interpreter; its JSON result, wall time and peak RSS."""
    logs.mkdir(parents=True, exist_ok=True)
    tag = f"{target.replace(':', '.').replace('bench.', '')}-{secrets.token_hex(3)}"
    result_file = logs / f"{tag}.json"
    full_env = dict(os.environ)
    full_env.update(PREFECT_ENV)
    full_env.update(env or {})
    full_env["BENCH_RESULT"] = str(result_file)
    full_env["PYTHONPATH"] = str(ROOT)
    with open(logs / f"{tag}.log", "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([PY, "-m", "bench.common", target, json.dumps(kwargs)], cwd=ROOT,
                                env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _, status, usage = _wait4(proc.pid, timeout)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise RuntimeError(f"{target} took more than {timeout:.0f} s; see {out.name}") from None
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not result_file.exists():
        tail = (logs / f"{tag}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{target} exited {proc.returncode}; log {logs / (tag + '.log')}:\n{tail}")
    data = json.loads(result_file.read_text())
    return ChildResult(data, wall, usage.ru_maxrss)


def _wait4(pid: int, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        wpid, status, usage = os.wait4(pid, os.WNOHANG)
        if wpid == pid:
            return wpid, status, usage
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.02)


def vm_hwm_kb() -> int:
    """This process's peak resident set (VmHWM), in KiB."""
    text = Path("/proc/self/status").read_text()
    return int(_first(r"^VmHWM:\s+(\d+)", text, "0"))


def child_main(argv: list[str]) -> int:
    import importlib

    target, kwargs = argv[0], json.loads(argv[1])
    module, func = target.split(":")
    result = getattr(importlib.import_module(module), func)(**kwargs)
    result = dict(result or {})
    result.setdefault("vm_hwm_kb", vm_hwm_kb())
    Path(os.environ["BENCH_RESULT"]).write_text(json.dumps(result))
    return 0


# -- a Prefect server of the suite's own ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_nice() -> int:
    """The ``Nice=`` of the shipped Prefect server unit (deploy/prefect-server.service).

    The server ingests each task run's events (≈ 25 ms of CPU a task run with SQLite);
    production runs it a little below the scripts, and so do the benchmarks.
    """
    import re

    unit = (ROOT / "deploy" / "prefect-server.service").read_text()
    found = re.search(r"^Nice=(-?\d+)\s*$", unit, re.M)
    return int(found.group(1)) if found else 0


def prefect_server_command(port: int) -> list[str]:
    """``prefect server start`` on loopback ``port``, at the production unit's niceness."""
    command = [str(Path(PY).with_name("prefect")), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    return ["nice", "-n", str(server_nice()), *command] if server_nice() else command


@contextlib.contextmanager
def prefect_server(home: Path, logs: Path, startup_timeout: float = 120) -> Iterator[dict]:
    """``prefect server start`` on a free loopback port with a fresh SQLite database under ``home``.

    Yields the environment a child needs to use it (``PREFECT_API_URL``, ``PREFECT_HOME``),
    as production does: flows talk to a long-running server, none starts per run.
    """
    import httpx

    home.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ)
    env.update(PREFECT_ENV)
    env["PREFECT_HOME"] = str(home)
    env.pop("PREFECT_API_URL", None)
    from flows.prefect_settings import PREFECT_SERVER_TUNING

    for key, value in PREFECT_SERVER_TUNING.items():  # as deploy/prefect-server.service runs it
        env.setdefault(key, value)
    t0 = time.perf_counter()
    with open(logs / "prefect-server.log", "wb") as out:
        proc = subprocess.Popen(prefect_server_command(port), env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prefect server exited {proc.returncode}; see {logs / 'prefect-server.log'}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - t0 > startup_timeout:
                raise RuntimeError(f"prefect server not healthy after {startup_timeout:.0f} s")
            time.sleep(0.5)
        log(f"Prefect server on {url} healthy after {time.perf_counter() - t0:.1f} s")
        yield {"PREFECT_API_URL": url, "PREFECT_HOME": str(home), "startup_s": time.perf_counter() - t0,
               "pid": proc.pid}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# -- profiles ---------------------------------------------------------------------------


def profile_text(profile, limit: int = 15, sort: str = "cumulative", strip: str = str(ROOT) + "/",
                 restrict: str | None = None) -> str:
    """The top entries of a cProfile.Profile (or pstats.Stats), paths shortened; ``restrict``: a
    regular expression the file:function must match."""
    import io
    import pstats

    buf = io.StringIO()
    if isinstance(profile, pstats.Stats):
        stats = profile
        stats.stream = buf
    else:
        stats = pstats.Stats(profile, stream=buf)
    stats.sort_stats(sort)
    if restrict:
        stats.print_stats(restrict, limit)
    else:
        stats.print_stats(limit)
    text = buf.getvalue()
    text = re.sub(r"[^\s(]*/site-packages/", "", text)
    text = re.sub(r"[^\s(]*/lib/python3\.\d+/", "", text)
    text = text.replace(strip, "")
    lines = [line.rstrip() for line in text.splitlines()]
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    head = [line for line in lines[:start] if "function calls" in line]
    if restrict:
        head.append(f"(only entries matching {restrict!r})")
    return "\n".join(head + lines[start:]).strip()


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
