"""Per-task overhead: a night of N trivial tasks, through the runner, against running the scripts bare.

Three ways to run the same N scripts, one after the other, in rounds (so that
a burst of load on this shared machine hits all of them alike):

- **bare**: the scripts' trees (written beforehand, as the runner would) run
  directly, one by one: ``python main.py`` with stdout to a file (the same
  interpreter the process sandbox uses), or, for containers, the identical
  container (same image, mount, limits, network) created, attached, started,
  read to the end, its exit code polled (inspect) and removed through the Docker
  API — the least any runner can do;
- **runner**: ``Runner(settings).run_task(id)`` in a loop (database, guard,
  tree, sandbox, export, runlog — no Prefect);
- **nightly flow**: ``flows.nightly.run_nightly`` (the ``memo-nightly`` flow,
  concurrency 1) against a Prefect server, so Prefect's own cost is counted
  (the night's fixed costs — imports, the process's first flow run — apart).

Each way runs in a fresh child process.
"""

from __future__ import annotations

import cProfile
import os
import secrets
import time
from pathlib import Path

from bench.children import run_child
from bench.common import fresh_dir, log
from bench.memo_db import EMPTY_NIGHT, NIGHT, BenchMemo
from bench.profiles import profile_text
from bench.results import Goal, Section, Table
from bench.runner_settings import bench_settings, docker_host, docker_problem, settings_dict, settings_from
from bench.stats import Stat, mmm, ms, ratio, secs

GOAL_MS = 50.0
GOAL_CONTAINER_SHARE = 0.10


# -- bare runs ----------------------------------------------------------------------------


def write_trees(settings, ids: list[str], folder: Path) -> list[Path]:
    """Each task's script tree, exactly as the runner plans it, written once under ``folder``."""
    from memo.database import MemoDatabase
    from memo.dependencies import resolve_dependencies
    from memo.tree import plan_tree

    db = MemoDatabase(settings.database_url)
    library = db.library()
    trees = []
    for i, task_id in enumerate(ids):
        spec = db.load_task(task_id)
        files = plan_tree(spec, resolve_dependencies(spec, library))
        tree = folder / f"tree{i:05d}"
        for rel, text in files.items():
            path = tree / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        trees.append(tree)
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            os.chmod(Path(root, d), 0o755)
        for f in files:
            os.chmod(Path(root, f), 0o644)
    os.chmod(folder, 0o755)
    db.dispose()
    return trees


def bare_process(tree: Path, out_path: Path, python: str) -> int:
    """``python main.py > out`` in the tree; the exit code."""
    import subprocess

    with open(out_path, "wb") as out:
        return subprocess.run([python, "main.py"], cwd=tree, stdout=out, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL).returncode


class BareDocker:
    """The runner's own container (same create arguments), run with nothing around it."""

    def __init__(self, settings):
        import docker

        from memo.sandbox import make_sandbox

        self.sandbox = make_sandbox(settings)
        self.api = docker.APIClient(base_url=docker_host(), version="1.41", timeout=600)
        self.api.trust_env = False  # as the sandbox's client: no proxy look-ups per call

    def run(self, tree: Path, out_path: Path) -> int:
        from memo.sandbox import SandboxJob

        job = SandboxJob(tree=tree, timeout=3600, name=f"memo-bench-bare-{secrets.token_hex(6)}")
        kwargs = self.sandbox.spec.create_kwargs(self.api, job)
        cid = self.api.create_container(**kwargs)["Id"]
        try:
            sock = self.api.attach_socket(cid, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 1})
            self.api.start(cid)
            raw = getattr(sock, "_sock", sock)
            with open(out_path, "wb") as out:
                _copy_frames(raw, out)
            sock.close()
            return self._exit_code(cid)
        finally:
            self.api.remove_container(cid, force=True)

    def _exit_code(self, cid: str) -> int:
        """The quickest way to the exit code once the stream has ended: poll inspect (Podman's
        ``wait`` lags the exit by 0.3-0.5 s), then ``wait``."""
        pause, give_up = 0.005, time.monotonic() + 2
        while time.monotonic() < give_up:
            state = self.api.inspect_container(cid).get("State") or {}
            if state.get("Status") in ("exited", "stopped", "dead") and state.get("ExitCode") is not None:
                return int(state["ExitCode"])
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        return int(self.api.wait(cid)["StatusCode"])


def _copy_frames(raw, out, chunk: int = 1 << 20) -> None:
    """Demultiplex an attach stream: stdout payloads to ``out``, stderr dropped."""
    buf = memoryview(bytearray(chunk))
    header = bytearray(8)

    def fill(view: memoryview) -> bool:
        got = 0
        while got < len(view):
            n = raw.recv_into(view[got:])
            if n == 0:
                if got:
                    raise OSError("stream ended inside a frame")
                return False
            got += n
        return True

    while fill(memoryview(header)):
        size = int.from_bytes(header[4:8], "big")
        while size:
            n = raw.recv_into(buf[: min(size, chunk)])
            if n == 0:
                raise OSError("stream ended inside a frame")
            if header[0] == 1:
                out.write(buf[:n])
            size -= n


def child_bare_night(settings: dict, trees: list[str], out_dir: str) -> dict:
    """Every tree, one by one: per-task wall times and the total."""
    import sys

    settings = settings_from(settings)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    docker_runner = BareDocker(settings) if settings.sandbox == "docker" else None
    per_task = []
    t0 = time.perf_counter()
    for i, tree in enumerate(trees):
        s = time.perf_counter()
        if docker_runner:
            code = docker_runner.run(Path(tree), out / f"out{i:05d}")
        else:
            code = bare_process(Path(tree), out / f"out{i:05d}", sys.executable)
        per_task.append(time.perf_counter() - s)
        if code != 0:
            raise RuntimeError(f"bare run of {tree} exited {code}")
    return {"total": time.perf_counter() - t0, "per_task": per_task}


# -- the runner and the flow -----------------------------------------------------------------


class Timings:
    """Wall time spent inside ``Runner.run_task`` and inside the sandbox's ``run``, summed over a night.

    The benchmark wraps the two methods on their classes (in its own child process only): the
    difference between a night and these sums says where the time went.
    """

    def __init__(self) -> None:
        import threading

        self.run_task = 0.0
        self.sandbox = 0.0
        self.slot_wait = 0.0
        self._lock = threading.Lock()

    def install(self) -> "Timings":
        import threading

        from memo.runner import Runner
        from memo.sandbox.docker import DockerSandbox
        from memo.sandbox.process import ProcessSandbox

        Runner.run_task = self._wrap(Runner.run_task, "run_task")
        for cls in (ProcessSandbox, DockerSandbox):
            cls.run = self._wrap(cls.run, "sandbox")
        timings = self

        class TimedSlots(threading.BoundedSemaphore):
            """A task prepared ahead waits here for the previous script: not the runner's work."""

            def acquire(self, *args, **kwargs):
                return timings._wrap(super().acquire, "slot_wait")(*args, **kwargs)

            __enter__ = acquire

        post_init = Runner.__post_init__

        def timed_post_init(runner):
            post_init(runner)
            runner.script_slots = TimedSlots(runner.settings.concurrency)

        Runner.__post_init__ = timed_post_init
        return self

    def _wrap(self, fn, attr: str):
        import functools

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    setattr(self, attr, getattr(self, attr) + time.perf_counter() - t0)

        return timed

    def reset(self) -> None:
        with self._lock:
            self.run_task = self.sandbox = self.slot_wait = 0.0

    def data(self) -> dict:
        return {"in_run_task": self.run_task, "in_sandbox": self.sandbox, "in_slot_wait": self.slot_wait}


def child_runner_night(settings: dict, ids: list[str], profile: bool = False, concurrency: int = 1) -> dict:
    """``Runner.run_task`` for every id (in ``concurrency`` threads); per-task times and the total."""
    import logging

    from memo.runner import Runner

    logging.basicConfig(level=logging.WARNING)
    settings = settings_from(settings)
    timings = Timings().install()
    t0 = time.perf_counter()
    runner = Runner(settings)
    setup = time.perf_counter() - t0
    per_task: list[float] = []
    failed: list[str] = []

    def one(task_id: str) -> None:
        s = time.perf_counter()
        outcome = runner.run_task(task_id)
        per_task.append(time.perf_counter() - s)
        if not outcome.success:
            failed.append(f"{task_id}: {outcome.message}")

    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    if concurrency == 1:
        for task_id in ids:
            one(task_id)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, ids))
    if prof:
        prof.disable()
    total = time.perf_counter() - t0
    if failed:
        raise RuntimeError(f"{len(failed)} task(s) failed: {failed[:3]}")
    result = {"total": total, "per_task": per_task, "setup": setup, **timings.data()}
    if prof:
        result["profile_cum"] = profile_text(prof, 22, "cumulative")
        result["profile_tot"] = profile_text(prof, 15, "tottime")
    return result


def child_flow_night(settings: dict, night: str, profile: bool = False) -> dict:
    """``flows.nightly.run_nightly`` for ``night`` after a warm-up night with nothing due."""
    import datetime as dt

    t0 = time.perf_counter()
    from flows import nightly

    imported = time.perf_counter() - t0
    settings = settings_from(settings)
    timings = Timings().install()
    t0 = time.perf_counter()
    state = nightly.run_nightly(settings, EMPTY_NIGHT)
    warm = time.perf_counter() - t0
    if not state.is_completed():
        raise RuntimeError(f"warm-up night ended {state.name}: {state.message}")
    timings.reset()
    profiles = []
    if profile:
        import threading

        def start_thread_profile(*_):
            p = cProfile.Profile()
            profiles.append(p)
            p.enable()

        threading.setprofile(start_thread_profile)
        main_prof = cProfile.Profile()
        profiles.append(main_prof)
        main_prof.enable()
    t0 = time.perf_counter()
    state = nightly.run_nightly(settings, dt.date.fromisoformat(night))
    total = time.perf_counter() - t0
    result = {"total": total, "import": imported, "warm_night": warm, **timings.data()}
    if profile:
        main_prof.disable()
        threading.setprofile(None)
        import pstats

        merged = pstats.Stats(profiles[0])
        for p in profiles[1:]:
            try:
                merged.add(p)
            except (TypeError, ValueError):
                pass
        result["profile_cum"] = profile_text(merged, 35, "cumulative", restrict=r"prefect/|flows/|memo/")
        result["profile_tot"] = profile_text(merged, 20, "tottime")
    if not state.is_completed():
        raise RuntimeError(f"night ended {state.name}: {state.message}")
    return result


def child_flow_nights(settings: list[dict], night: str) -> dict:
    """Several nights in one process (one import, one warm-up): one per settings, in order."""
    import datetime as dt

    t0 = time.perf_counter()
    from flows import nightly

    imported = time.perf_counter() - t0
    all_settings = [settings_from(s) for s in settings]
    t0 = time.perf_counter()
    state = nightly.run_nightly(all_settings[0], EMPTY_NIGHT)
    warm = time.perf_counter() - t0
    if not state.is_completed():
        raise RuntimeError(f"warm-up night ended {state.name}: {state.message}")
    totals = []
    for s in all_settings:
        t0 = time.perf_counter()
        state = nightly.run_nightly(s, dt.date.fromisoformat(night))
        totals.append(time.perf_counter() - t0)
        if not state.is_completed():
            raise RuntimeError(f"night ended {state.name}: {state.message}")
    return {"totals": totals, "import": imported, "warm_night": warm}


# -- the section --------------------------------------------------------------------------


def run(ctx) -> Section:
    section = Section(
        "overhead", "Per-task overhead: a night of N trivial tasks",
        intro=(
            "N tasks of one `print` each (with their own query module in the tree), run one at a time. "
            "**bare** runs the very trees the runner would write: `python main.py > file` with the "
            "interpreter the process sandbox uses, or the identical container (same image, bind mount, "
            "limits, network `none`) through the Docker API with nothing around it (create, attach, start, "
            "read to the end, poll inspect for the exit code, remove). **runner** is `Runner.run_task` "
            "in a loop (no Prefect). **nightly flow** is `flows.nightly.run_nightly` (concurrency 1) "
            "against a `prefect server` on loopback. Overhead per task = (night − bare night) / N; "
            "the fixed costs of a night are in the last table."
        ),
    )
    sandboxes = ["process"]
    problem = docker_problem()
    if problem:
        section.notes.append(f"Container sandbox NOT measured: {problem}.")
    else:
        sandboxes.append("docker")
    sizes = ctx.sizes("overhead", quick=[20], full=[50, 200])

    want_flow = ctx.prefect is not None

    summary = Table("Overhead per task (medians of the night walls over the rounds)",
                    ["sandbox, N", "path", "night (s) median", "min", "max", "vs bare",
                     "per task (ms)", "overhead / task (ms)", "overhead / bare task"])
    per_task_table = Table("Per-task wall time inside the nights, all rounds pooled (ms)",
                           ["sandbox, N", "path", "median", "min", "max", "vs bare"])
    split = Table("Where a task's time goes (ms per task, median over the rounds)",
                  ["sandbox, N", "path", "bare run", "sandbox `run`", "sandbox − bare",
                   "runner around the sandbox", "`run_task`", "Prefect around `run_task`", "night / N"])
    extra = Table("Fixed costs per night (not in the per-task figures)",
                  ["sandbox, N", "what", "median (s)", "min", "max"])
    worst: dict[str, tuple[float, float, str]] = {}
    for sandbox in sandboxes:
        for n in sizes:
            folder = fresh_dir(ctx.work / f"overhead-{sandbox}-{n}")
            memo = BenchMemo.sqlite(folder / "db")
            ids = memo.trivial_tasks(n)
            settings = bench_settings(folder, memo.url, sandbox, concurrency=1)
            trees = write_trees(settings, ids, folder / "trees")
            sdict = settings_dict(settings)
            rounds = ctx.rounds("overhead", n, sandbox)
            # 200 containers take a minute a path: at N=200 the runner-only loop is left out (its
            # split is also measured inside the flow, below), so the suite stays under 15 minutes.
            with_loop = not (sandbox == "docker" and n > 50 and not ctx.quick)
            walls: dict[str, list[float]] = {k: [] for k in ("bare", "runner", "flow")}
            tasks: dict[str, list[float]] = {"bare": [], "runner": []}
            parts: dict[str, list[float]] = {k: [] for k in (
                "loop sandbox", "loop around", "loop run_task", "flow sandbox", "flow around",
                "flow run_task", "prefect")}
            fixed: dict[str, list[float]] = {
                "Runner() construction": [], "first `run_task` of the process, above the median one": [],
                "import flows.nightly": [],
                "first flow run of the process (nothing due)": [],
                "nightly process start (interpreter, imports, first flow run)": []}
            for r in range(rounds):
                log(f"overhead {sandbox} N={n} round {r + 1}/{rounds}: bare")
                res = run_child("bench.overhead:child_bare_night",
                                {"settings": sdict, "trees": [str(t) for t in trees],
                                 "out_dir": str(folder / "bare-out")}, logs=ctx.logs)
                walls["bare"].append(res.data["total"])
                tasks["bare"] += res.data["per_task"]
                if with_loop:
                    log(f"overhead {sandbox} N={n}: runner (bare night {res.data['total']:.2f} s)")
                    res = run_child("bench.overhead:child_runner_night", {"settings": sdict, "ids": ids},
                                    logs=ctx.logs)
                    walls["runner"].append(res.data["total"])
                    tasks["runner"] += res.data["per_task"]
                    parts["loop sandbox"].append(res.data["in_sandbox"] / n)
                    parts["loop around"].append((res.data["in_run_task"] - res.data["in_sandbox"]) / n)
                    parts["loop run_task"].append(res.data["in_run_task"] / n)
                    fixed["Runner() construction"].append(res.data["setup"])
                    first = res.data["per_task"]
                    if len(first) > 2:
                        fixed["first `run_task` of the process, above the median one"].append(
                            first[0] - Stat.of(first[1:]).median)
                if want_flow:
                    log(f"overhead {sandbox} N={n}: nightly flow (previous night {res.data['total']:.2f} s)")
                    res = run_child("bench.overhead:child_flow_night",
                                    {"settings": sdict, "night": NIGHT.isoformat()},
                                    logs=ctx.logs, env=ctx.prefect)
                    walls["flow"].append(res.data["total"])
                    parts["flow sandbox"].append(res.data["in_sandbox"] / n)
                    own = res.data["in_run_task"] - res.data["in_slot_wait"]  # less waits for a slot
                    parts["flow around"].append((own - res.data["in_sandbox"]) / n)
                    parts["flow run_task"].append(own / n)
                    fixed["nightly process start (interpreter, imports, first flow run)"].append(
                        res.wall - res.data["total"])
                    fixed["import flows.nightly"].append(res.data["import"])
                    fixed["first flow run of the process (nothing due)"].append(res.data["warm_night"])
            expected = rounds * n * (int(with_loop) + int(want_flow))  # one row per runner or flow run
            if memo.runlog_count() != expected:
                section.notes.append(f"{sandbox} N={n}: unexpected runlog count {memo.runlog_count()}")
            memo.close()

            label = f"{sandbox}, {n}"
            bare = Stat.of(walls["bare"])
            bare_task = bare.median / n
            for path, key in (("bare", "bare"), ("runner", "runner"), ("nightly flow", "flow")):
                if not walls[key]:
                    continue
                st = Stat.of(walls[key])
                over = (st.median - bare.median) / n
                summary.add(label, path, *mmm(st, secs), ratio(st.median, bare.median),
                            ms(st.median / n), "—" if key == "bare" else ms(over),
                            "—" if key == "bare" else f"{over / bare_task:.1%}")
                if key in ("runner", "flow"):
                    prev = worst.get(f"{sandbox}/{key}")
                    if prev is None or over > prev[0]:
                        worst[f"{sandbox}/{key}"] = (over, bare_task, label)
            bt = Stat.of(tasks["bare"])
            per_task_table.add(label, "bare", *mmm(bt), "×1.00")
            if tasks["runner"]:
                rt = Stat.of(tasks["runner"])
                per_task_table.add(label, "runner", *mmm(rt), ratio(rt.median, bt.median))
            for what, values in fixed.items():
                if values:
                    extra.add(label, what, *mmm(Stat.of(values), secs))
            med = {k: Stat.of(v).median if v else None for k, v in parts.items()}
            cell = lambda v: "—" if v is None else ms(v)  # noqa: E731
            for path, pre in (("runner", "loop"), ("nightly flow", "flow")):
                if med[f"{pre} run_task"] is None:
                    continue
                split.add(label, path, ms(bare_task), cell(med[f"{pre} sandbox"]),
                          cell(med[f"{pre} sandbox"] - bare_task), cell(med[f"{pre} around"]),
                          cell(med[f"{pre} run_task"]), "overlapped" if pre == "flow" else "—",
                          ms(Stat.of(walls["flow" if pre == "flow" else "runner"]).median / n))
    split.notes.append(
        "Measured by timing `Runner.run_task` and the sandbox's `run` inside the benchmark's own child "
        "processes: **sandbox − bare** is what the sandbox adds to the script's own run (for containers: "
        "image check, lock-down options, attach, inspect); **runner around the sandbox** is the database "
        "reads, library imports, guard, tree, export commit (fsync) and runlog row; **Prefect around "
        "`run_task`** is the flow night minus the time inside `run_task`: task runs, their state "
        "changes through the API, the run-log bridge. Inside the flow, `run_task` itself is slower than "
        "in the plain loop: Prefect's background threads (API logs, events) and its server share the "
        "machine's cores with it. In the flow the next task prepares while a script runs "
        "(`memo.lookahead.Lookahead`, docs/prefect.md): its `run_task` here leaves out the wait for the "
        "script slot, and Prefect's work overlaps the scripts, so per-task parts no longer add up to "
        "the night (**overlapped**); the night's own overhead is the first table's."
    )
    if not ctx.quick and "docker" in sandboxes:
        split.notes.append("At N=200 the container rows have no runner-only loop (a minute a path): the "
                           "runner's share is measured inside the flow.")
    section.tables += [summary, split, per_task_table, extra]
    if want_flow:
        extra.notes.append(
            "The first `run_task` pays the connections and, with containers, the engine's version "
            "check (it is inside the per-task figures above). The flow's costs are paid once per night, "
            "whatever N: a served deployment runs each scheduled night in a new "
            "process, which imports the flow and makes its first flow run (client, flow registration) "
            "before the night starts. The flow rows above start after them (a first, empty night runs "
            "before the measured one in the same process)."
        )
    else:
        section.notes.append("Nightly flow NOT measured: no Prefect server (see the run's log).")

    # Goals: judged on the nightly flow (what production runs), runner-only alongside.
    to_profile = []
    for key, (over, bare_task, label) in sorted(worst.items()):
        sandbox, path = key.split("/")
        name = f"{'nightly flow' if path == 'flow' else 'runner only'}, {sandbox} sandbox"
        met = over * 1000 < GOAL_MS
        section.goals.append(Goal(f"overhead per task < {GOAL_MS:.0f} ms ({name})", f"< {GOAL_MS:.0f} ms",
                                  f"{ms(over)} ms (worst N: {label})", met))
        if not met:
            to_profile.append((sandbox, path))
        if sandbox == "docker":
            share = over / bare_task
            ok = share < GOAL_CONTAINER_SHARE
            section.goals.append(Goal(f"overhead < 10 % of a container run ({name})", "< 10 %",
                                      f"{share:.1%} of {ms(bare_task)} ms", ok))
            if not ok and (sandbox, path) not in to_profile:
                to_profile.append((sandbox, path))
    if to_profile:
        try:
            profile_paths(ctx, section, to_profile)
        except Exception as exc:  # noqa: BLE001 - the figures stand without the profile
            section.notes.append(f"Profiling failed: {exc.__class__.__name__}: {str(exc)[-500:]}")
    return section


def profile_paths(ctx, section: Section, which: list[tuple[str, str]]) -> None:
    """cProfile of the runner loop (and the flow, all threads merged) on a small night."""
    n = 20
    for sandbox, path in which:
        folder = fresh_dir(ctx.work / f"profile-{sandbox}-{path}")
        memo = BenchMemo.sqlite(folder / "db")
        ids = memo.trivial_tasks(n)
        sdict = settings_dict(bench_settings(folder, memo.url, sandbox, concurrency=1))
        log(f"profiling {path} path, {sandbox} sandbox, N={n}")
        try:
            if path == "runner":
                res = run_child("bench.overhead:child_runner_night",
                                {"settings": sdict, "ids": ids, "profile": True}, logs=ctx.logs)
                title = f"runner loop, {sandbox} sandbox, {n} trivial tasks (cProfile, main thread)"
            else:
                res = run_child("bench.overhead:child_flow_night",
                                {"settings": sdict, "night": NIGHT.isoformat(), "profile": True},
                                logs=ctx.logs, env=ctx.prefect)
                title = (f"nightly flow, {sandbox} sandbox, {n} trivial tasks "
                         "(cProfile, every thread merged: waits in one thread show as time)")
            section.profiles.append((title + " — by cumulative time", res.data["profile_cum"]))
            section.profiles.append((title + " — by own time", res.data["profile_tot"]))
        finally:
            memo.close()
