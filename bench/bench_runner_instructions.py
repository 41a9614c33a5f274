"""The runner's own work per task, in instructions: a figure a loaded machine does not move.

Wall-clock figures of the runner's share ("runner around the sandbox", BENCHMARKS.md) swing
with the load of this shared 2-core machine by more than the changes they should judge.
Instructions executed do not: callgrind counts them, the same for the same code and input
whatever else runs. So this runs ``Runner.run_task`` over trivial tasks (process sandbox,
SQLite, each with its own query module; ``--sandbox docker``: containers) under ``valgrind --tool=callgrind``, twice per
checkout — ``--warm`` tasks, then ``--warm`` + ``--tasks`` — and reports the difference per
task: the runner process's marginal work (database reads, guard, tree, sandbox parent side,
export commit, runlog row), imports and first-use costs cancelled out. The scripts' own
processes are not traced (no ``--trace-children``), so the launcher inside them is not counted.

    .venv/bin/python bench/bench_runner_instructions.py                      # this checkout
    .venv/bin/python bench/bench_runner_instructions.py --root . --root ../other-checkout

Each ``--root`` is a checkout of memo-taskrunner whose ``memo`` and ``tests.conftest`` are
imported (the same venv): two checkouts compare two versions of the code on one input.
Under callgrind Python runs ~50x slower: about 2 minutes of one core per checkout.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys, tempfile
from pathlib import Path
root, n, sandbox = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, root)
import sqlalchemy as sa
from memo import schema
from memo.runner import Runner
from tests.conftest import Memo, make_settings

work = Path(tempfile.mkdtemp(prefix="memo-instr-"))
url = f"sqlite:///{work / 'memo.sqlite'}"
schema.create_schema(sa.create_engine(url))
memo = Memo(url)
ids = [memo.task("abccorp", f"t{i:04d}.txt", "print('hello')") for i in range(n)]
if sandbox == "docker":  # the suite's container settings: network none, the image podman-up.sh built
    from tests.docker.conftest import docker_settings
    settings = docker_settings(work, database_url=url, timeout=120)
else:
    settings = make_settings(work, url)
runner = Runner(settings)
for task_id in ids:
    outcome = runner.run_task(task_id)
    assert outcome.success, outcome.message
print("ran", n, "tasks under", root)
"""


def instructions(root: Path, n: int, sandbox: str) -> int:
    """Instructions callgrind counted in the runner process for a night of ``n`` tasks."""
    with tempfile.TemporaryDirectory(prefix="memo-cg-") as tmp:
        out = Path(tmp) / "callgrind.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMO_")}
        env["PYTHONPATH"] = str(root)
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", CHILD,
             str(root), str(n), sandbox],
            env=env, cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0 or "ran" not in done.stdout:
            sys.exit(f"the night under {root} failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
        refs = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        if refs is None:
            sys.exit(f"callgrind printed no instruction count:\n{done.stderr[-2000:]}")
        return int(refs.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", action="append", type=Path, help="a checkout to measure (default: this one)")
    parser.add_argument("--warm", type=int, default=5, help="tasks of the first night (default 5)")
    parser.add_argument("--tasks", type=int, default=20, help="tasks the second night has more (default 20)")
    parser.add_argument("--sandbox", choices=["process", "docker"], default="process",
                        help="docker: the runner's side of a container run (DOCKER_HOST: `. var/podman/env`)")
    args = parser.parse_args(argv)
    roots = [r.resolve() for r in (args.root or [ROOT])]
    rows = []
    for root in roots:
        short = instructions(root, args.warm, args.sandbox)
        long = instructions(root, args.warm + args.tasks, args.sandbox)
        per_task = (long - short) / args.tasks
        rows.append((root, short, per_task))
        print(f"{root}: {short / 1e9:.2f} G instructions for {args.warm} tasks, "
              f"{per_task / 1e6:.1f} M per further task", flush=True)
    print()
    print("| checkout | night of --warm tasks | per further task | ratio to the first |")
    print("|---|---:|---:|---:|")
    for root, short, per_task in rows:
        print(f"| {root.name} | {short / 1e9:.2f} G | {per_task / 1e6:.1f} M | ×{per_task / rows[0][2]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
