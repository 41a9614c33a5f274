"""A Prefect server of the suite's own, started as production runs it.

``prefect_server`` starts ``prefect server start`` on a free loopback port with a fresh
SQLite database, at the niceness of deploy/prefect-server.service and with Prefect's
server tuning (``flows.prefect_settings``), and stops it after; ``PREFECT_ENV`` keeps
Prefect offline and quiet about telemetry in this process and in every child.

Its own module because it is a long-running process the sections share, not a
measurement.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

from bench.common import PY, ROOT, log

# Prefect offline and quiet about telemetry, in this process and in every child.
PREFECT_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


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
