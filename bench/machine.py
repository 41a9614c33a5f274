"""The machine a benchmark run measured: CPU, RAM, kernel, OS, Python, Podman, MariaDB, libraries, disk.

``bench/run_all.py`` heads BENCHMARKS.md with ``machine()``; the Docker benchmarks print it.
Every fact is best effort: one that cannot be read shows as ``?`` (or why), never stops the run.

Its own module because it describes the host, not anything measured on it.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

from bench.common import PY, ROOT
from bench.memo_db import MARIADB_URL


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
