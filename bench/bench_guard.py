"""Benchmark the Code Guard against ``ast.parse`` of the same text.

    .venv/bin/python bench/bench_guard.py [--repeats N]

Measures, in one run on this machine:
  * a 5,000-line realistic script (the accepted corpus concatenated, with
    ``main`` renamed per copy), clean and with one ``exec`` added at the end
    (the refused path also computes positions);
  * the whole corpus (refused + accepted), one ``check_source`` per file;
  * a typical report script, and the start-up of a cold process that imports
    the guard (``import guard``, and the command on one file);
and prints median/min/max milliseconds and the ratio of the medians to
``ast.parse`` of the same text.  The clock is this process's CPU time by
default (``--clock cpu``), which other load on a shared machine disturbs less
than wall time (``--clock wall``); the guard is single-threaded, so the two
agree on a quiet machine.  A breakdown of the 5,000-line check shows
where the time goes (CPython's syntax check, libcst's parser, the rules).
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import libcst as cst  # noqa: E402

from guard import check_source, default_policy  # noqa: E402
from guard.check import _ast_identifiers, _gc_paused, _python_syntax_error  # noqa: E402
from guard.visitor import GuardVisitor, walk  # noqa: E402
from tests.guard.conftest import ACCEPTED, REFUSED, read  # noqa: E402

LINES = 5000
TYPICAL = ROOT / "tests" / "guard" / "corpus" / "accepted" / "kbart_csv.py"  # 40 lines, a typical report script


# Concatenated, this script's module-level ``datetime`` (a class here, the
# module in other copies) is ambiguous, which the guard rightly refuses.
CLASHING = frozenset({"json_api_dump"})


def big_script(lines: int = LINES) -> str:
    """The accepted corpus concatenated until ``lines`` lines, each copy's
    ``main`` renamed; padded with assignments to exactly ``lines``."""
    out: list[str] = []
    copy = 0
    while True:
        for path in (p for p in ACCEPTED if p.stem not in CLASHING):
            text = read(path)
            text = "\n".join(line for line in text.splitlines() if not line.startswith("from __future__"))
            text = re.sub(r"\bmain\b", f"main_{copy}", text) + "\n\n"
            copy += 1
            chunk = text.splitlines()
            if len(out) + len(chunk) > lines:
                out.extend(f"_pad_{i} = {i}" for i in range(lines - len(out)))
                return "\n".join(out) + "\n"
            out.extend(chunk)


CLOCK = time.process_time


def timeit(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm-up (caches, lazy imports)
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return times


def row(label: str, times: list[float], base: list[float] | None) -> str:
    med = statistics.median(times)
    ratio = f"{med / statistics.median(base):6.1f}x" if base else "      "
    return (f"{label:48} median {med * 1000:8.1f} ms  min {min(times) * 1000:8.1f}  "
            f"max {max(times) * 1000:8.1f}  {ratio}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    args = ap.parse_args()
    r = args.repeats
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    script = big_script()
    refused = script + "exec('print(1)')\n"
    corpus = [read(p) for p in REFUSED + ACCEPTED]
    assert check_source(script).ok and not check_source(refused).ok

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Python {platform.python_version()}, libcst {cst_version()}, {os.cpu_count()} CPUs, load {load:.2f}, "
          f"repeats {r}, clock {args.clock}")
    print(f"5,000-line script: {script.count(chr(10))} lines, {len(script):,} chars; corpus: {len(corpus)} files, "
          f"{sum(t.count(chr(10)) for t in corpus):,} lines\n")

    base = timeit(lambda: ast.parse(script), r)
    print(row("ast.parse, 5,000 lines", base, None))
    print(row("check_source, 5,000 lines, clean", timeit(lambda: check_source(script), r), base))
    base_r = timeit(lambda: ast.parse(refused), r)
    print(row("check_source, 5,000 lines + exec at the end", timeit(lambda: check_source(refused), r), base_r))

    print("  breakdown of the clean check:")
    print(row("    CPython syntax check (compile to AST)", timeit(lambda: _python_syntax_error(script, "s"), r), base))
    def parse_paused() -> None:
        with _gc_paused():
            cst.parse_module(script)

    print(row("    libcst.parse_module (gc paused, as checked)", timeit(parse_paused, r), base))
    print(row("    (libcst.parse_module with the gc running)", timeit(lambda: cst.parse_module(script), r), base))
    module = cst.parse_module(script)

    def rules() -> None:
        v = GuardVisitor(default_policy())
        walk(module, v)
        v.finish()

    print(row("    rules (walk + finish)", timeit(rules, r), base))
    tree = ast.parse(script)
    print(row("    parser cross-check (identifiers of the ast)", timeit(lambda: _ast_identifiers(tree), r), base))

    corpus_base = timeit(lambda: [ast.parse(t) for t in corpus], r)
    print()
    print(row(f"ast.parse, whole corpus ({len(corpus)} files)", corpus_base, None))
    print(row("check_source, whole corpus", timeit(lambda: [check_source(t) for t in corpus], r), corpus_base))
    typical = read(TYPICAL)
    typical_base = timeit(lambda: ast.parse(typical), r * 10)
    print(row(f"ast.parse, a typical script ({typical.count(chr(10))} lines)", typical_base, None))
    print(row(f"check_source, a typical script ({TYPICAL.name})", timeit(lambda: check_source(typical), r * 10),
              typical_base))
    print()
    startup_base = process_times([sys.executable, "-c", "pass"], r)
    print(row("python -c pass (cold process, wall)", startup_base, None))
    print(row("python -c 'import guard' (cold process, wall)",
              process_times([sys.executable, "-c", "import guard"], r), startup_base))
    print(row("python -m guard.cli TYPICAL (cold process, wall)",
              process_times([sys.executable, "-m", "guard.cli", str(TYPICAL)], r), startup_base))


def process_times(command: list[str], repeats: int) -> list[float]:
    """Wall time of a fresh process (start-up is what it measures)."""
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def cst_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("libcst")
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    main()
