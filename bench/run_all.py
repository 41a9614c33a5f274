"""The benchmark suite in one command: the runner's cost against the bare cost of running the scripts.

    . var/podman/env && .venv/bin/python bench/run_all.py          # full run → BENCHMARKS.md (< 15 min)
    .venv/bin/python bench/run_all.py --quick                       # smoke check → var/bench/BENCHMARKS-quick.md
    .venv/bin/python bench/run_all.py --only overhead --only scale  # some sections

(``make bench`` is the first line.) Sections: overhead, parallel, output, scale,
startup, egress, exports. Every figure is a median over repeated runs with its min and max, and
its ratio to a baseline measured in the same run. Not part of the test run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import os
import re
import shlex
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_dir, log  # noqa: E402
from bench.machine import machine  # noqa: E402
from bench.prefect_server import PREFECT_ENV, prefect_server  # noqa: E402
from bench.results import Section  # noqa: E402
from bench.runner_settings import scrub_memo_env  # noqa: E402

SECTIONS = {
    "overhead": "bench.overhead",
    "parallel": "bench.parallel",
    "output": "bench.output_size",
    "scale": "bench.scale",
    "startup": "bench.startup",
    "egress": "bench.bench_egress",
    "exports": "bench.bench_export_checks",
}
NEEDS_PREFECT = {"overhead", "parallel"}

OTHER_BENCHMARKS = [
    ("Code Guard", "bench/bench_guard.py", "docs/guard.md"),
    ("Docker sandbox", "bench/bench_docker.py", "docs/docker.md"),
    ("Prefect orchestration", "bench/bench_orchestration.py", "docs/prefect.md"),
    ("HTTP API under load", "bench/load_http.py", "docs/http.md"),
]


@dataclass
class Context:
    quick: bool
    work: Path
    logs: Path
    prefect: dict | None
    repeats: int

    def sizes(self, section: str, *, quick: list[int], full: list[int]) -> list[int]:
        return quick if self.quick else full

    def rounds(self, section: str, n: int = 0, sandbox: str = "process") -> int:
        """Repeated nights: fewer for the long ones, so the full suite stays under 15 minutes."""
        if self.quick:
            return 1
        if section == "overhead":
            if sandbox == "docker":  # ≈ 0.4 s a container, three paths
                return 2 if n <= 50 else 1
            return 2
        return self.repeats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N and one repeat: a smoke check")
    parser.add_argument("--only", action="append", choices=list(SECTIONS), metavar="NAME",
                        help=f"run only this section (repeatable): {', '.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the short measurements (default 5)")
    parser.add_argument("--output", type=Path, help="markdown report (default: BENCHMARKS.md for a full "
                        "run of every section, else var/bench/BENCHMARKS-<what>.md)")
    parser.add_argument("--keep", action="store_true", help="keep var/bench/work (databases, exports, trees)")
    args = parser.parse_args(argv)

    scrub_memo_env()
    os.environ.update(PREFECT_ENV)
    names = args.only or list(SECTIONS)
    if args.output is None:
        if args.quick:
            args.output = ROOT / "var" / "bench" / "BENCHMARKS-quick.md"
        elif args.only:
            args.output = ROOT / "var" / "bench" / f"BENCHMARKS-{'-'.join(names)}.md"
        else:
            args.output = ROOT / "BENCHMARKS.md"
    base = ROOT / "var" / "bench"
    work = fresh_dir(base / "work")
    logs = fresh_dir(base / "logs")
    command = " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/run_all.py", *sys.argv[1:]]) \
        if argv is None else "bench/run_all.py " + " ".join(argv)
    started = dt.datetime.now().astimezone()
    load_start = os.getloadavg()
    log(f"benchmarks: {', '.join(names)}{' (quick)' if args.quick else ''}; report → {args.output}")
    info = machine()

    sections: list[Section] = []
    prefect_startup = None
    with contextlib.ExitStack() as stack:
        prefect = None
        if NEEDS_PREFECT & set(names):
            try:
                prefect = stack.enter_context(prefect_server(base / "work" / "prefect-home", logs))
                prefect_startup = prefect.pop("startup_s")
                prefect.pop("pid")
            except Exception as exc:  # noqa: BLE001 - no Prefect server, whatever the cause: its sections are skipped
                log(f"no Prefect server: {exc}; the flow paths are skipped")
        ctx = Context(args.quick, work, logs, prefect, 2 if args.quick else args.repeats)
        for name in names:
            module = importlib.import_module(SECTIONS[name])
            load0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            log(f"== {name}")
            try:
                section = module.run(ctx)
            except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
                traceback.print_exc()
                section = Section(name, name, error=f"{exc.__class__.__name__}: {exc}")
            section.seconds = time.perf_counter() - t0
            section.load = (load0, os.getloadavg()[0])
            sections.append(section)
            for table in section.tables:
                print("\n" + table.text(), flush=True)
            for goal in section.goals:
                print(f"GOAL {goal.verdict:12} {goal.name}: {goal.measured}", flush=True)
            log(f"== {name} done in {section.seconds:.0f} s")
    report = render(info, command, started, load_start, os.getloadavg(), sections, args, prefect_startup,
                    kept_findings(args.output))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    log(f"report written to {args.output} ({sum(s.seconds for s in sections):.0f} s of benchmarks); "
        f"logs in {logs}")
    return 1 if any(s.error for s in sections) else 0


KEPT = re.compile(r"<!-- (findings|keep:(after-goals|before-other)[\w-]*) -->.*?<!-- /\1 -->", re.S)


def kept_findings(path: Path) -> dict[str, list[str]]:
    """Hand-written blocks of the report being replaced, by where they go.

    ``<!-- findings -->…<!-- /findings -->`` and ``<!-- keep:after-goals-NAME -->…`` go after
    the goals; ``<!-- keep:before-other-NAME -->…`` before "Other benchmarks". Everything
    else is regenerated.
    """
    kept: dict[str, list[str]] = {"after-goals": [], "before-other": []}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return kept
    for match in KEPT.finditer(text):
        kept[match.group(2) or "after-goals"].append(match.group(0))
    return kept


def render(info, command, started, load_start, load_end, sections, args, prefect_startup,
           kept: dict[str, list[str]] | None = None) -> str:
    kept = kept or {}
    out = ["# Benchmarks", ""]
    out.append(
        "The runner's job is to run scripts; its own cost should vanish next to theirs. These figures "
        "put every path of the runner next to the bare cost of the same work, **measured in the same "
        "run** (this machine is shared and noisy: compare ratios, not absolute times). Figures are "
        "medians over repeated runs, with min and max."
    )
    out += ["", "## Machine and run", ""]
    out.append("| | |\n|---|---|")
    for key, value in info.items():
        out.append(f"| {key} | {value} |")
    out.append(f"| date | {started:%Y-%m-%d %H:%M %Z} |")
    out.append(f"| command | `{command}` (`make bench`){' — quick smoke run' if args.quick else ''} |")
    out.append(f"| duration | {sum(s.seconds for s in sections) / 60:.1f} min |")
    out.append(f"| load average (1/5/15 min) | at start {'/'.join(f'{x:.2f}' for x in load_start)}, "
               f"at end {'/'.join(f'{x:.2f}' for x in load_end)} |")
    if prefect_startup is not None:
        out.append(f"| Prefect server | `prefect server start` on loopback, fresh SQLite; healthy after "
                   f"{prefect_startup:.1f} s (not counted below) |")
    out.append("")
    loads = [s.load for s in sections]
    if loads:
        peak = max(max(load) for load in loads)
        out.append(
            f"Load (1-minute average) before the suite started: {load_start[0]:.2f} on {info['cores']} cores. "
            "During the run, at each section's start and end: "
            + ", ".join(f"{s.name} {s.load[0]:.1f}→{s.load[1]:.1f}" for s in sections)
            + f" (peak {peak:.1f}). These counts include the suite's own work — containers, the Prefect "
            "server, 1 GiB writes waiting on the disk — and whatever else ran on this shared machine: "
            "compare ratios within a table, not absolute times across runs."
        )
        out.append("")

    goals = [(s, g) for s in sections for g in s.goals]
    if goals:
        out += ["## Goals", "", "| goal | measured | verdict |", "|---|---|---|"]
        for _, g in goals:
            out.append(f"| {g.name} | {g.measured} | {g.verdict} |")
        missed = [g for _, g in goals if g.met is False]
        out.append("")
        out.append(f"{len(goals) - len(missed)} of {len(goals)} goals met."
                   + (" Where a goal is missed, the section shows the profile of where the time goes."
                      if missed else ""))
        out.append("")
    for block in kept.get("after-goals", []):
        out += [block, ""]

    for s in sections:
        out += [f"## {s.title}", ""]
        if s.error:
            out += [f"**This section failed:** `{s.error}`", ""]
            continue
        if s.intro:
            out += [s.intro, ""]
        for t in s.tables:
            out += [t.markdown(), ""]
        for note in s.notes:
            out += [note, ""]
        for title, text in s.profiles:
            out += [f"<details><summary>Profile: {title}</summary>", "", "```", text, "```", "", "</details>", ""]
        out += [f"_Section time {s.seconds:.0f} s._", ""]

    for block in kept.get("before-other", []):
        out += [block, ""]
    out += other_benchmarks()
    out += ["## Reproduce", "",
            "```sh",
            "make bench                                      # = . var/podman/env && .venv/bin/python bench/run_all.py",
            ".venv/bin/python bench/run_all.py --quick       # smoke check, a minute or two",
            ".venv/bin/python bench/run_all.py --only scale  "
            "# one section (overhead, parallel, output, scale, startup)",
            "```", "",
            "Needs MariaDB on 127.0.0.1:3306 (`.ci/mariadb-up.sh`; or `MEMO_BENCH_MARIADB_URL`) and, for the "
            "container rows, Podman's Docker API (`make podman`). Work files go to `var/bench/work` (removed "
            "after the run unless `--keep`), child logs to `var/bench/logs`.", ""]
    return "\n".join(out)


def other_benchmarks() -> list[str]:
    out = ["## Other benchmarks", "",
           "Per-part benchmarks by the other engineers, run on their own (not by this suite):", ""]
    for what, script, doc in OTHER_BENCHMARKS:
        have_script = (ROOT / script).exists()
        have_doc = (ROOT / doc).exists()
        line = f"- **{what}**: `{script}`" + ("" if have_script else " (not in the tree yet)")
        if have_doc:
            line += f", results in [{doc}]({doc})"
            quote = _quote_results(ROOT / doc)
            out.append(line + ("" if quote else " (no figures there yet)"))
            if quote:
                out += ["", *[f"  > {q}" if q else "  >" for q in quote], ""]
            continue
        out.append(line + f" ({doc} not written yet)")
    out.append("")
    return out


def _quote_results(doc: Path, limit: int = 24) -> list[str]:
    """The benchmark part of a doc: the section whose heading mentions bench/perf/load/figures."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    headings = [(i, line.lower()) for i, line in enumerate(lines) if line.startswith("#")]
    start = None
    for word in ("bench", "overhead", "perf", "load", "throughput", "figure", "cost", "speed", "timing"):
        start = next((i for i, h in headings if word in h), None)
        if start is not None:
            break
    if start is None:
        return []
    level = len(lines[start]) - len(lines[start].lstrip("#"))
    body = []
    for line in lines[start + 1:]:
        if line.startswith("#") and len(line) - len(line.lstrip("#")) <= level:
            break
        body.append(line)
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    body = [line for line in body if not re.fullmatch(r"\s*[A-Z]+_[A-Z_]+\s*", line)]  # PLACEHOLDER lines
    if not any(line.strip() for line in body):
        return []
    if len(body) > limit:
        body = body[:limit] + [f"… (more in {doc.relative_to(ROOT)})"]
    return body


if __name__ == "__main__":
    sys.exit(main())
