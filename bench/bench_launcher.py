"""The run-time guard's cost per run: a script under the launcher against the same script bare.

    . var/podman/env && .venv/bin/python bench/bench_launcher.py [--runs 30]

Two scripts: ``print('hello')``, and a report that imports what MEMO scripts import
(json, csv, datetime, decimal, xml.etree, urllib.request, zoneinfo, mysql.connector)
and writes 2,000 CSV rows. Each runs bare (``python3 main.py``) and under the
launcher (``python3 -I -B launcher.py --policy-json ... main.py``), alternating,
after two warm-up runs each:

- in a container, through the Docker API, with the same create/start/wait/logs/remove
  calls on both sides (network none, read-only root, the tree bind-mounted read-only,
  the launcher bind-mounted next to it), so the difference is the launcher alone;
- as a process on this host (the process sandbox's way).

Then the hook's cost per audit event (an ``open`` of a file in the tree, in a loop).
Prints markdown tables: median/min/max, the launcher's added ms (the median of the paired
differences, run by run, and min to min: container runs on a shared machine are noisy)
and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.results import Table  # noqa: E402
from bench.runner_settings import IMAGE, docker_host  # noqa: E402
from bench.stats import Stat, mmm, ms, ratio  # noqa: E402
from guard import default_policy  # noqa: E402
from guard.runtime import LAUNCHER, READ_ROOTS, launcher_command, runtime_policy  # noqa: E402

TRIVIAL = "print('hello')\n"
REPORT = """\
import csv, datetime, decimal, json, sys
import xml.etree.ElementTree as ET
import urllib.request
from zoneinfo import ZoneInfo
import mysql.connector

zone = ZoneInfo("Europe/Amsterdam")
writer = csv.writer(sys.stdout, lineterminator="\\n")
for i in range(2000):
    when = datetime.datetime(2024, 1, 1, tzinfo=zone) + datetime.timedelta(hours=i)
    writer.writerow([i, f"Title {i}", decimal.Decimal(i) / 7, when.isoformat(), json.dumps({"n": i})])
print(ET.tostring(ET.Element("done", n="2000")).decode())
"""
EVENTS = """\
import time
t0 = time.perf_counter()
for _ in range(20000):
    open("main.py", "rb").close()
print(f"{(time.perf_counter() - t0) / 20000 * 1e6:.2f}")
"""
FALLBACK_MODULES = ["csv", "datetime", "decimal", "json", "sys", "xml.etree.ElementTree", "urllib.request",
                    "zoneinfo", "mysql.connector", "time"]


def the_policy() -> dict:
    policy = runtime_policy(default_policy())
    return policy or {"modules": FALLBACK_MODULES, "read": list(READ_ROOTS)}


def make_tree(root: Path, name: str, body: str) -> Path:
    tree = root / name
    tree.mkdir(mode=0o755)
    (tree / "main.py").write_text(body)
    os.chmod(tree / "main.py", 0o644)
    return tree


class Containers:
    """Runs a tree's main.py in a fresh container, bare or under the launcher."""

    def __init__(self, host: str):
        import docker

        self.docker = docker
        self.api = docker.APIClient(base_url=host, version="1.41", timeout=120)
        self.api.trust_env = False

    def run(self, tree: Path, launched: bool, policy: dict) -> tuple[float, bytes]:
        types = self.docker.types
        mounts = [types.Mount("/scripts", str(tree), type="bind", read_only=True)]
        command = ["python3", "main.py"]
        if launched:
            mounts.append(types.Mount("/memo/launcher.py", str(LAUNCHER), type="bind", read_only=True))
            command = launcher_command("python3", "/memo/launcher.py", policy, "/scripts", "main.py")
        host_config = self.api.create_host_config(
            network_mode="none", mounts=mounts, read_only=True, cap_drop=["ALL"],
            tmpfs={"/tmp": "rw,nosuid,nodev,size=64m,mode=1777"})
        t0 = time.perf_counter()
        cid = self.api.create_container(IMAGE, command, host_config=host_config, user="65534:65534",
                                        working_dir="/scripts", environment={"LANG": "C.UTF-8"})["Id"]
        try:
            self.api.start(cid)
            status = self.api.wait(cid, timeout=120)["StatusCode"]
            out = self.api.logs(cid, stdout=True, stderr=False)
        finally:
            self.api.remove_container(cid, force=True)
        elapsed = time.perf_counter() - t0
        if status != 0:
            raise RuntimeError(f"exit {status}: {self.api and out[-500:]!r}")
        return elapsed, out


def run_process(tree: Path, launched: bool, policy: dict) -> tuple[float, bytes]:
    command = [sys.executable, "main.py"]
    if launched:
        command = launcher_command(sys.executable, str(LAUNCHER), policy, str(tree), "main.py")
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=tree, capture_output=True, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode()[-500:])
    return elapsed, done.stdout


def alternate(run, tree: Path, policy: dict, runs: int) -> tuple[Stat, Stat]:
    """Bare and launched runs, alternating after two warm-ups each; the outputs must agree."""
    for _ in range(2):
        _, bare_out = run(tree, False, policy)
        _, launched_out = run(tree, True, policy)
        assert bare_out == launched_out, "the launcher changed the output"
    bare, launched = [], []
    for _ in range(runs):
        bare.append(run(tree, False, policy)[0])
        launched.append(run(tree, True, policy)[0])
    return Stat.of(bare), Stat.of(launched)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    policy = the_policy()
    work = Path(tempfile.mkdtemp(prefix="bench-launcher-", dir=ROOT / "var"))
    os.chmod(work, 0o755)
    try:
        trees = {"print('hello')": make_tree(work, "trivial", TRIVIAL),
                 "report (imports + 2,000 CSV rows)": make_tree(work, "report", REPORT)}
        table = Table("The launcher's cost per run (ms)",
                      ["where, script", "bare median", "min", "max", "launcher median", "min", "max",
                       "added (paired median)", "added (min to min)", "ratio"])
        host = docker_host()
        runners = [("process", run_process)]
        if host:
            runners.insert(0, ("container", Containers(host).run))
        for where, run in runners:
            for label, tree in trees.items():
                bare, launched = alternate(run, tree, policy, args.runs)
                paired = statistics.median(b - a for a, b in zip(bare.values, launched.values))
                table.add(f"{where}, {label}", *mmm(bare), *mmm(launched), ms(paired),
                          ms(launched.min - bare.min), ratio(launched.median, bare.median))
        events_tree = make_tree(work, "events", EVENTS)
        per_event = {}
        for launched in (False, True):
            _, out = run_process(events_tree, launched, policy)
            per_event[launched] = float(out.decode().strip())
        facts = machine()
        print(f"# bench/bench_launcher.py — {args.runs} runs each, alternating; {facts.get('CPU', '?')}, "
              f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, image {IMAGE}\n")
        print(table.markdown())
        print(f"\nAn allowed audit event (open of a file in the tree): {per_event[False]:.2f} µs bare, "
              f"{per_event[True]:.2f} µs under the hook (+{per_event[True] - per_event[False]:.2f} µs).")
        print(f"Policy: {len(policy['modules'])} importable modules, {len(policy['read'])} extra read roots.")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
