"""Output size: 1 MB, 100 MB and 1 GiB exports, against ``cat``-ing the same bytes to a file.

The script writes its bytes in 1 MiB blocks to stdout. Per size, in rounds:

- ``cat src > dst`` of a file holding the same bytes (page cache warm), and the
  same followed by ``fsync`` — the runner fsyncs every export (and its folder)
  before the atomic rename, so this is the like-for-like floor;
- **bare**: the script itself, ``python main.py > file`` or the identical
  container with its stdout copied to a file (see the overhead section);
- **runner**: ``Runner.run_task`` in a child process that reports its own peak
  RSS (``VmHWM``: the runner alone, not the script).

``os.sync()`` runs (untimed) before each measurement so one run's dirty pages
do not slow the next.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bench.children import run_child, vm_hwm_kb
from bench.common import fresh_dir, log
from bench.memo_db import BenchMemo
from bench.results import Goal, Section, Table
from bench.runner_settings import bench_settings, docker_problem, settings_dict, settings_from
from bench.stats import Stat, mmm, ratio

MB = 1_000_000
GIB = 1 << 30
BLOCK = 1 << 20
RSS_GOAL_MB = 300
FLAT_MB = 32


def script(size: int) -> str:
    return (
        "import sys\n"
        f"SIZE = {size}\n"
        "line = b'x' * 1023 + b'\\n'\n"
        "block = line * 1024\n"
        "out = sys.stdout.buffer\n"
        "left = SIZE\n"
        "while left >= len(block):\n"
        "    out.write(block)\n"
        "    left -= len(block)\n"
        "out.write(block[:left])\n"
        "out.flush()\n"
    )


def write_source(path: Path, size: int) -> None:
    block = (b"x" * 1023 + b"\n") * 1024
    with open(path, "wb") as f:
        left = size
        while left >= len(block):
            f.write(block)
            left -= len(block)
        f.write(block[:left])


def _fsync_file_and_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def cat(src: Path, dst: Path, fsync: bool) -> float:
    dst.unlink(missing_ok=True)
    os.sync()
    t0 = time.perf_counter()
    with open(dst, "wb") as out:
        subprocess.run(["cat", str(src)], stdout=out, check=True)
    if fsync:
        _fsync_file_and_dir(dst)
    elapsed = time.perf_counter() - t0
    dst.unlink()
    return elapsed


def child_bare_output(settings: dict, tree: str, out: str, warm_tree: str) -> dict:
    import sys

    from bench.overhead import BareDocker, bare_process

    settings = settings_from(settings)
    runner = BareDocker(settings) if settings.sandbox == "docker" else None
    # One trivial run first, as the runner side gets: connections, page cache.
    if runner:
        runner.run(Path(warm_tree), Path(out))
    else:
        bare_process(Path(warm_tree), Path(out), sys.executable)
    os.sync()
    t0 = time.perf_counter()
    code = runner.run(Path(tree), Path(out)) if runner else bare_process(Path(tree), Path(out), sys.executable)
    elapsed = time.perf_counter() - t0
    size = Path(out).stat().st_size
    Path(out).unlink()
    if code != 0:
        raise RuntimeError(f"bare run exited {code}")
    return {"duration": elapsed, "bytes": size}


def child_runner_output(settings: dict, task_id: str, warm_id: str) -> dict:
    import logging

    from memo.runner import Runner

    logging.basicConfig(level=logging.WARNING)
    settings = settings_from(settings)
    runner = Runner(settings)
    # One trivial task first: the once-per-process costs (engine version check, database
    # connection, lazy imports) belong to start-up, not to the export's throughput.
    warm = runner.run_task(warm_id)
    if not warm.success:
        raise RuntimeError(warm.message)
    before = vm_hwm_kb()
    os.sync()
    t0 = time.perf_counter()
    outcome = runner.run_task(task_id)
    elapsed = time.perf_counter() - t0
    if not outcome.success:
        raise RuntimeError(outcome.message)
    Path(outcome.export_path).unlink()
    return {"duration": elapsed, "bytes": outcome.bytes_written, "hwm_before_kb": before}


def run(ctx) -> Section:
    sizes = [MB, 100 * MB] if ctx.quick else [MB, 100 * MB, GIB]
    label = {MB: "1 MB", 100 * MB: "100 MB", GIB: "1 GiB"}
    section = Section(
        "output", "Output size: 1 MB, 100 MB, 1 GiB exports",
        intro=(
            "The script writes its bytes in 1 MiB blocks to stdout; the runner streams them into the "
            "export's partial file, fsyncs it and renames it over the client's file. Baselines, same run: "
            "`cat` of a file holding the same bytes to a new file (page cache warm), the same plus `fsync` "
            "(the runner's durability, like for like), and the script run bare (`python main.py > file`, "
            "or the identical container's attach stream copied to a file; the runner's `output=file` mode, "
            "`MEMO_CONTAINER_OUTPUT=file`, has the container write a bind-mounted file instead). Peak RSS "
            "is the runner process's `VmHWM` (the script runs in its own process or container and is not "
            "counted). Each measured run is its process's second: a trivial task runs first, so once-per-process "
            "costs (engine version check, database connection) stay out; `os.sync()` runs, untimed, before "
            "every measurement."
        ),
    )
    # (label, sandbox, container settings, has a bare baseline of its own)
    variants = [("process", "process", {}, True)]
    problem = docker_problem()
    if problem:
        section.notes.append(f"Container sandbox NOT measured: {problem}.")
    else:
        variants.append(("docker", "docker", {}, True))
        variants.append(("docker, output=file", "docker", {"output": "file"}, False))
    sandboxes = [v[0] for v in variants]
    folder = fresh_dir(ctx.work / "output")
    memo = BenchMemo.sqlite(folder / "db")
    ids = memo.add_tasks([{"username": "bigout", "file_name": f"out{s}.txt", "body": script(s), "sql": None}
                          for s in sizes])
    task_of = dict(zip(sizes, ids))
    warm_id = memo.trivial_tasks(1)[0]
    table = Table("Time to produce the export (s) and throughput",
                  ["size, path", "median (s)", "min", "max", "MB/s", "vs cat", "vs cat+fsync"])
    rss = Table("Runner peak RSS (VmHWM, MB) while the export streams",
                ["sandbox", *[label[s] for s in sizes], "after start-up, before the run", "process tree (wait4)"])
    peaks: dict[str, dict[int, list[float]]] = {s: {} for s in sandboxes}
    tree_peak: dict[str, float] = {}
    base_hwm: dict[str, list[float]] = {s: [] for s in sandboxes}

    from bench.overhead import write_trees

    for size in sizes:
        reps = 1 if ctx.quick else (3 if size <= MB else 2)
        src = folder / "src.bin"
        write_source(src, size)
        times: dict[str, list[float]] = {"cat": [], "cat + fsync": []}
        for name, _, _, bare in variants:
            if bare:
                times[f"bare {name}"] = []
            times[f"runner {name}"] = []
        trees = {}
        for i, (name, sandbox, container, _) in enumerate(variants):
            settings = bench_settings(folder / f"v{i}", memo.url, sandbox, container=container)
            trees[name] = (settings, *write_trees(settings, [task_of[size], warm_id], folder / f"trees-{i}-{size}"))
        for r in range(reps):
            log(f"output {label[size]} round {r + 1}/{reps}")
            times["cat"].append(cat(src, folder / "dst.bin", fsync=False))
            times["cat + fsync"].append(cat(src, folder / "dst.bin", fsync=True))
            for sandbox, _, _, bare in variants:
                if size >= GIB and r > 0 and sandbox == "docker" and not ctx.quick:
                    continue  # 1 GiB through the attach stream: ≈ 20 s a run, measured once (budget)
                settings, tree, warm_tree = trees[sandbox]
                sdict = settings_dict(settings)
                if bare:
                    res = run_child("bench.output_size:child_bare_output",
                                    {"settings": sdict, "tree": str(tree), "out": str(folder / "bare.out"),
                                     "warm_tree": str(warm_tree)}, logs=ctx.logs)
                    assert res.data["bytes"] == size, res.data
                    times[f"bare {sandbox}"].append(res.data["duration"])
                res = run_child("bench.output_size:child_runner_output",
                                {"settings": sdict, "task_id": task_of[size], "warm_id": warm_id},
                                logs=ctx.logs)
                assert res.data["bytes"] == size, res.data
                times[f"runner {sandbox}"].append(res.data["duration"])
                peaks[sandbox].setdefault(size, []).append(res.data["vm_hwm_kb"] / 1024)
                base_hwm[sandbox].append(res.data["hwm_before_kb"] / 1024)
                tree_peak[sandbox] = max(tree_peak.get(sandbox, 0), res.maxrss_kb / 1024)
        src.unlink()
        cat_med = Stat.of(times["cat"]).median
        catf_med = Stat.of(times["cat + fsync"]).median
        for path, values in times.items():
            st = Stat.of(values)
            table.add(f"{label[size]}, {path}", *mmm(st, lambda v: f"{v:.3f}"), f"{size / MB / st.median:,.0f}",
                      ratio(st.median, cat_med), ratio(st.median, catf_med))
    memo.close()
    table.notes.append("Ratios are of the median times (×2.00 = takes twice as long as the baseline). "
                       "1 MB: 3 rounds, 100 MB and 1 GiB: 2 (1 GiB through the attach stream, "
                       "`docker` rows: 1).")
    for sandbox in sandboxes:
        cells = []
        for s in sizes:
            st = Stat.of(peaks[sandbox][s])
            cells.append(f"{st.median:.0f} ({st.min:.0f}–{st.max:.0f})")
        rss.add(sandbox, *cells,
                f"{Stat.of(base_hwm[sandbox]).median:.0f}", f"{tree_peak[sandbox]:.0f}")
    rss.notes.append(
        "Median (min–max) over the rounds. The last column is `ru_maxrss` of the child's whole process "
        "tree (the runner, or with the process sandbox the script when it is bigger)."
    )
    section.tables += [table, rss]
    biggest = max(sizes)
    for sandbox in sandboxes:
        peak = max(peaks[sandbox][biggest])
        growth = peak - Stat.of(peaks[sandbox][MB]).median
        section.goals.append(Goal(f"runner peak RSS < {RSS_GOAL_MB} MB at {label[biggest]} ({sandbox})",
                                  f"< {RSS_GOAL_MB} MB", f"{peak:.0f} MB", peak < RSS_GOAL_MB))
        section.goals.append(Goal(f"runner RSS flat from 1 MB to {label[biggest]} ({sandbox})",
                                  f"grows < {FLAT_MB} MB", f"{growth:+.0f} MB", growth < FLAT_MB))
    return section
