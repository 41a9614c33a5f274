"""Start-up: ``memo-taskrunner guard``, ``due`` and ``run-task`` wall time from a cold process.

"Cold" is a new process each time (the page cache stays warm, as on a host
that ran anything in the last hour). Baselines in the same run: ``python -c
pass`` and the trivial script itself (``python main.py``), same interpreter.
A one-off ``python -X importtime`` per command shows the biggest imports.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from bench.common import PY, ROOT, fresh_dir, log
from bench.memo_db import NIGHT, TRIVIAL, BenchMemo
from bench.results import Section, Table
from bench.stats import measure, mmm, ratio


def _run(cmd: list[str], env: dict, ok=(0,), cwd: Path | None = None) -> None:
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode not in ok:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.decode(errors='replace')[-800:]}")


def top_imports(cmd: list[str], env: dict, limit: int = 6) -> str:
    """The biggest top-level imports (cumulative µs) of one run with ``-X importtime``."""
    r = subprocess.run([PY, "-X", "importtime", *cmd], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    rows = []
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m and len(m.group(3)) <= 1:  # top level (one space of indent)
            rows.append((int(m.group(2)), m.group(4)))
    rows.sort(reverse=True)
    return ", ".join(f"{name} {us / 1000:.0f} ms" for us, name in rows[:limit])


def run(ctx) -> Section:
    section = Section(
        "startup", "Start-up from a cold process",
        intro=(
            "Each command in a new process, process sandbox, SQLite MEMO database of 200 tasks "
            "(`due` lists those due on the night; `run-task` runs a trivial one and writes its runlog; "
            "`guard` checks one 40-line real MEMO script). Ratios are to `python -c pass`, same interpreter."
        ),
    )
    folder = fresh_dir(ctx.work / "startup")
    memo = BenchMemo.sqlite(folder / "db")
    ids = memo.trivial_tasks(200)
    memo.close()
    script = folder / "script.py"
    script.write_text((Path(__file__).resolve().parents[1] / "tests/guard/corpus/accepted/kbart_csv.py")
                      .read_text(encoding="utf-8"), encoding="utf-8")
    tree = folder / "tree"
    tree.mkdir()
    (tree / "main.py").write_text(TRIVIAL)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "PREFECT_API"))}
    env.update(
        MEMO_DATABASE_URL=memo.url, MEMO_SANDBOX="process", MEMO_EXPORTS_DIR=str(folder / "exports"),
        MEMO_WORK_DIR=str(folder / "work"), MEMO_TIMEZONE="Europe/Amsterdam",
        # This venv's editable install predates guard/__init__.py (it maps `guard` as a namespace
        # package, so `from guard import default_policy` fails in the console script): put the
        # checkout first on the path, as a fresh `pip install -e .` would.
        PYTHONPATH=str(ROOT),
    )
    cli = str(Path(PY).with_name("memo-taskrunner"))
    commands = {
        "`python -c pass`": ([PY, "-c", "pass"], (0,)),
        "`python main.py` (the trivial script)": ([PY, str(tree / "main.py")], (0,)),
        "`memo-taskrunner guard script.py`": ([cli, "guard", str(script)], (0,)),
        f"`memo-taskrunner due --date {NIGHT}`": ([cli, "due", "--date", NIGHT.isoformat()], (0,)),
        "`memo-taskrunner run-task ID`": ([cli, "run-task", ids[0]], (0,)),
    }
    reps = ctx.repeats + (0 if ctx.quick else 2)
    stats = {}
    for name, (cmd, ok) in commands.items():
        log(f"startup: {name}")
        stats[name] = measure(lambda cmd=cmd, ok=ok: _run(cmd, env, ok), reps)
    base = stats["`python -c pass`"].median
    t = Table("Wall time from a cold process (ms)", ["command", "median", "min", "max", "vs `python -c pass`",
                                                     "biggest imports (one `-X importtime` run)"])
    for name, (cmd, _) in commands.items():
        imports = ""
        if "memo-taskrunner" in name:
            imports = top_imports(["-m", "cli.main", *cmd[1:]], env)
        t.add(name, *mmm(stats[name]), ratio(stats[name].median, base), imports or "—")
    t.notes.append(
        "`memo-taskrunner` is the console script (its wrapper imports `cli.main.main`); the import column "
        "runs the same command as `python -X importtime -m cli.main …`. `run-task` includes the script's "
        "own run (≈ the `python main.py` row), the orphan sweep and the runlog write."
    )
    section.tables.append(t)
    return section
