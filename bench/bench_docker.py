"""Per-task wall time of the docker sandbox against a bare ``podman run --rm`` of the same script.

    eval "$(docker/podman-up.sh | tail -1)"
    .venv/bin/python bench/bench_docker.py [--runs 50] [--network none|host] [--output attach|file]

Both sides run the same trivial script (``print('hello')``) from the same tree,
bind-mounted read-only at /scripts, in the same image, as the same user, on the
same network; the runs alternate (sandbox, bare, sandbox, ...) after two
warm-up runs each. The sandbox side is one ``DockerSandbox.run`` (image check,
create with every limit, attach, start, read, wait, inspect, remove) through
the Docker API of ``podman system service``; the bare side is the ``podman``
CLI doing the same in-process. Prints median/min/max and the ratio of the
medians, then where the sandbox's time goes (per API call, median).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from memo.sandbox.base import SandboxJob  # noqa: E402
from memo.sandbox import make_sandbox  # noqa: E402
from memo.settings import ContainerSettings, Settings  # noqa: E402

IMAGE = os.environ.get("MEMO_BENCH_DOCKER_IMAGE", "localhost/memo-python:latest")
STATE = Path(os.environ.get("MEMO_PODMAN_DIR", ROOT / "var" / "podman"))
SCRIPT = "print('hello')\n"
API_CALLS = ("version", "inspect_image", "create_container", "attach_socket", "start", "wait",
             "inspect_container", "remove_container")


def docker_host() -> str:
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    env = STATE / "env"
    if env.exists():
        return env.read_text().strip().split("DOCKER_HOST=", 1)[1]
    sys.exit("no DOCKER_HOST: run  eval \"$(docker/podman-up.sh | tail -1)\"  first")


def podman_env() -> dict[str, str]:
    conf = STATE / "containers.conf"
    if not conf.exists():
        sys.exit(f"{conf} is missing: run docker/podman-up.sh first")
    return dict(
        os.environ,
        CONTAINERS_CONF=str(conf),
        CONTAINERS_STORAGE_CONF=str(STATE / "storage.conf"),
        CONTAINERS_REGISTRIES_CONF=str(STATE / "registries.conf"),
    )


class Timed:
    """Wraps an APIClient's methods to record the time of each call."""

    def __init__(self, api):
        self.times: dict[str, list[float]] = {name: [] for name in API_CALLS}
        for name in API_CALLS:
            original = getattr(api, name)

            def timed(*args, _original=original, _name=name, **kwargs):
                t0 = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    self.times[_name].append(time.perf_counter() - t0)

            setattr(api, name, timed)


def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--network", default="none")
    parser.add_argument("--output", default="attach", choices=["attach", "file"])
    args = parser.parse_args(argv)

    host = docker_host()
    env = podman_env()
    settings = Settings(
        sandbox="docker", docker_image=IMAGE, task_timeout=60,
        container=ContainerSettings(docker_host=host, network=args.network, output=args.output),
    )
    c = settings.container
    sandbox = make_sandbox(settings)
    problems = sandbox.problems()
    if problems:
        sys.exit("; ".join(problems))
    timed = Timed(sandbox.engine.client())

    work = Path(tempfile.mkdtemp(prefix="bench-docker-", dir=ROOT / "var"))
    tree = work / "tree"
    tree.mkdir(mode=0o755)
    (tree / "main.py").write_text(SCRIPT)
    os.chmod(tree / "main.py", 0o644)
    bare_cmd = [
        "podman", "run", "--rm", "--network", c.network, "--user", c.user,
        "-v", f"{tree}:{c.scripts_mount}:ro", "-w", c.scripts_mount, IMAGE, "python3", "main.py",
    ]

    def sandbox_run(i: int) -> float:
        out = io.BytesIO()
        t0 = time.perf_counter()
        result = sandbox.run(SandboxJob(tree=tree, timeout=60, name=f"memo-bench-{os.getpid()}-{i}"), out)
        elapsed = time.perf_counter() - t0
        assert result.ok and out.getvalue() == b"hello\n", (result, out.getvalue())
        return elapsed

    def bare_run() -> float:
        t0 = time.perf_counter()
        done = subprocess.run(bare_cmd, env=env, capture_output=True)
        elapsed = time.perf_counter() - t0
        assert done.returncode == 0 and done.stdout == b"hello\n", done
        return elapsed

    try:
        for i in range(2):  # warm-up: caches, the image's layers, lazy imports
            sandbox_run(-1 - i)
            bare_run()
        for values in timed.times.values():
            values.clear()
        ours, bare = [], []
        for i in range(args.runs):
            ours.append(sandbox_run(i))
            bare.append(bare_run())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    version = subprocess.run(["podman", "--version"], capture_output=True, text=True, env=env).stdout.strip()
    print(f"# docker sandbox vs bare podman run — {args.runs} runs each, alternating")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {version}")
    print(f"network={c.network} output={args.output} image={IMAGE} user={c.user} "
          f"(sandbox adds: memory {c.memory}, cpus {c.cpus}, pids {c.pids_limit}, read-only root, "
          f"tmpfs /tmp, cap_drop ALL, no-new-privileges)")
    print(f"bare: {' '.join(bare_cmd)}")
    print()
    print("| per task | median s | min s | max s |")
    print("|---|---:|---:|---:|")
    for label, values in (("DockerSandbox.run (Docker API)", ours), ("bare `podman run --rm` (CLI)", bare)):
        med, lo, hi = stats(values)
        print(f"| {label} | {med:.3f} | {lo:.3f} | {hi:.3f} |")
    ratio = statistics.median(ours) / statistics.median(bare)
    print(f"\nratio of medians (sandbox / bare): {ratio:.2f}")
    print("\nwhere the sandbox's time goes (median per call, ms):")
    parts = []
    for name in API_CALLS:
        if timed.times[name]:
            parts.append(f"{name} {statistics.median(timed.times[name]) * 1000:.0f}")
    print("  " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
