"""Child processes: one function of a benchmark run in a fresh interpreter.

``python -m bench.children MODULE:FUNCTION 'JSON kwargs'`` runs one function and writes its
JSON result to ``$BENCH_RESULT``; ``run_child`` starts it and returns that result with its
wall time and peak RSS. The measured paths run there, so each starts clean and its memory
is its own.

Its own module because it is both a library (``run_child``, ``vm_hwm_kb``) and the
``-m`` entry point of every child.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import PY, ROOT
from bench.prefect_server import PREFECT_ENV


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
        proc = subprocess.Popen([PY, "-m", "bench.children", target, json.dumps(kwargs)], cwd=ROOT,
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
    match = re.search(r"^VmHWM:\s+(\d+)", text, re.M)
    return int(match.group(1)) if match else 0


def child_main(argv: list[str]) -> int:
    import importlib

    target, kwargs = argv[0], json.loads(argv[1])
    module, func = target.split(":")
    result = getattr(importlib.import_module(module), func)(**kwargs)
    result = dict(result or {})
    result.setdefault("vm_hwm_kb", vm_hwm_kb())
    Path(os.environ["BENCH_RESULT"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
