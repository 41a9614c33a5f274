"""Selection and guard at scale: due tasks among 100,000 rows (MariaDB), guarding 1,000 scripts,
resolving the dependencies of 1,000 tasks — each against the least work that gets the same answer.
"""

from __future__ import annotations

import ast
import cProfile
import os
import random
import re
import subprocess
import sys
import datetime as dt
from pathlib import Path

from bench.common import PY, ROOT, fresh_dir, log
from bench.memo_db import NIGHT, BenchMemo
from bench.profiles import profile_text
from bench.results import Section, Table
from bench.stats import measure, mmm, ms, ratio

CORPUS = ROOT / "tests" / "guard" / "corpus"
ROWS = 100_000
SCRIPTS = 1000
OWN_QUERY = re.compile(r"from queries\.abccorp import (\w+) as mainquery")


def corpus(kind: str) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((CORPUS / kind).glob("*.py"))]


# -- selection among 100,000 rows -------------------------------------------------------------


def seed_rows(memo: BenchMemo, rows: int) -> dict:
    """``rows`` tasks over 1,000 clients: mixed frequencies and starts, 10 % inactive, a few malformed."""
    rng = random.Random(8)
    first = dt.date(2015, 1, 1)
    span = (NIGHT - first).days + 60  # some start after the night
    tasks = []
    for i in range(rows):
        freq = rng.choices(["D", "W", "M", "Y", None], [10, 30, 40, 19.9, 0.1])[0]
        tasks.append({"username": f"client{i % 1000:04d}", "file_name": f"task{i:06d}.xml",
                      "body": None, "sql": None, "frequency": freq,
                      "start_date": first + dt.timedelta(days=rng.randrange(span)),
                      "is_active": rng.random() >= 0.1})
    memo.add_tasks(tasks)
    return {"rows": rows}


def selection(ctx, section: Section) -> None:
    import pymysql
    import sqlalchemy as sa

    from memo.database import MemoDatabase
    from memo.selection import select_due_tasks

    rows = 10_000 if ctx.quick else ROWS
    try:
        memo = BenchMemo.mariadb()
    except Exception as exc:  # noqa: BLE001 - no MariaDB, whatever the cause: the section says so and goes on
        section.notes.append(f"Selection at scale NOT measured: MariaDB unreachable ({exc.__class__.__name__}: {exc}).")
        return
    try:
        log(f"scale: seeding {rows:,} task rows in MariaDB")
        import time

        t0 = time.perf_counter()
        seed_rows(memo, rows)
        seeded = time.perf_counter() - t0
        db = MemoDatabase(memo.url)
        runner_sel = lambda: select_due_tasks(db.candidate_tasks(NIGHT), NIGHT)  # noqa: E731
        sel = runner_sel()
        candidates = db.candidate_tasks(NIGHT)

        url = sa.engine.make_url(memo.url)
        raw = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username,
                              password=url.password or "", database=url.database, charset="utf8mb4")
        sql = ("SELECT t.id, h.username, t.file_name, t.frequency, t.start_date, t.is_active, t.id_script, "
               "t.description FROM task t JOIN homedir h ON h.id = t.id_homedir "
               "WHERE t.is_active IS NOT false AND t.start_date <= %s ORDER BY h.username, t.file_name")

        def bare_fetch():
            with raw.cursor() as cur:
                cur.execute(sql, (NIGHT,))
                return cur.fetchall()

        assert len(bare_fetch()) == len(candidates)
        reps = 3  # ≈ 2.5 s a pass at 100,000 rows
        base = measure(bare_fetch, reps)
        full = measure(runner_sel, reps)
        fetch = measure(lambda: db.candidate_tasks(NIGHT), reps)
        rules = measure(lambda: select_due_tasks(candidates, NIGHT), reps)

        def cold():
            d = MemoDatabase(memo.url)
            select_due_tasks(d.candidate_tasks(NIGHT), NIGHT)
            d.dispose()

        cold_st = measure(cold, reps, warmup=0)
        raw.close()
        db.dispose()
        t = Table(f"Selecting the due tasks among {rows:,} task rows (MariaDB, 1,000 clients)",
                  ["step", "median (ms)", "min", "max", "vs bare query"])
        t.add("bare: the same SELECT through pymysql, fetchall", *mmm(base), "×1.00")
        t.add("runner: `candidate_tasks` + `select_due_tasks` (warm pool)", *mmm(full), ratio(full.median, base.median))
        t.add("… of which `candidate_tasks` (SQLAlchemy, rows → `Task`)", *mmm(fetch), ratio(fetch.median, base.median))
        t.add("… of which `select_due_tasks` (the D/W/M/Y rules)", *mmm(rules), ratio(rules.median, base.median))
        t.add("runner, cold: new `MemoDatabase` (connect) each time", *mmm(cold_st), ratio(cold_st.median, base.median))
        t.notes.append(
            f"{len(candidates):,} active rows started by {NIGHT} come back; {len(sel.due):,} are due, "
            f"{len(sel.malformed)} malformed (no frequency) are reported. Seeding {rows:,} rows in bulk took "
            f"{seeded:.1f} s (not counted)."
        )
        section.tables.append(t)
    finally:
        memo.close()


# -- the guard over 1,000 scripts --------------------------------------------------------------


def thousand_scripts() -> list[str]:
    texts = corpus("accepted") + corpus("refused")
    return [texts[i % len(texts)] + f"\n# copy {i}\n" for i in range(SCRIPTS)]


def guard(ctx, section: Section) -> None:
    from guard import check_source

    scripts = thousand_scripts()
    n = 200 if ctx.quick else SCRIPTS
    scripts = scripts[:n]
    reps = max(2, ctx.repeats - 2)
    base = measure(lambda: [ast.parse(s) for s in scripts], reps)
    checked = measure(lambda: [check_source(s, name=f"s{i}") for i, s in enumerate(scripts)], reps)
    refused = sum(not check_source(s).ok for s in scripts)
    lines = sum(s.count("\n") for s in scripts)

    folder = fresh_dir(ctx.work / "guard-files")
    for i, s in enumerate(scripts):
        (folder / f"script{i:04d}.py").write_text(s, encoding="utf-8")
    cli = str(Path(PY).with_name("memo-taskrunner"))

    def run_cli():
        r = subprocess.run([cli, "guard", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode in (0, 1), r.returncode

    def run_ast_cli():
        subprocess.run([PY, "-c", "import ast,pathlib,sys\nfor p in sorted(pathlib.Path(sys.argv[1]).glob('*.py')):"
                        " ast.parse(p.read_text())", str(folder)], check=True)

    cli_base = measure(run_ast_cli, reps)
    cli_st = measure(run_cli, reps)
    t = Table(f"Guarding {n:,} scripts ({lines:,} lines; {refused} refused)",
              ["what", "median (ms)", "min", "max", "per script (ms)", "vs bare"])
    t.add("bare: `ast.parse` of each", *mmm(base), ms(base.median / n), "×1.00")
    t.add("`check_source` of each (in process)", *mmm(checked), ms(checked.median / n),
          ratio(checked.median, base.median))
    t.add("bare: `python -c` parsing the folder's files with `ast`", *mmm(cli_base), ms(cli_base.median / n), "×1.00")
    t.add("`memo-taskrunner guard FOLDER` (cold process)", *mmm(cli_st), ms(cli_st.median / n),
          ratio(cli_st.median, cli_base.median))
    t.notes.append("The scripts are the guard's test corpus (real MEMO scripts and evasions), cycled to "
                   f"{n:,} copies, each made unique by a trailing comment. See also `bench/bench_guard.py`.")
    section.tables.append(t)


# -- dependencies of 1,000 tasks ---------------------------------------------------------------


SNIPLET_BODY = (
    "import sys\n{imports}\n\n"
    "def helper_{name}(rows):\n"
    "    for row in rows:\n"
    "        sys.stdout.write(str(row) + '\\n')\n"
)


def deps(ctx, section: Section) -> None:
    from memo.database import MemoDatabase
    from memo.dependencies import read_library_imports, resolve_dependencies

    n = 200 if ctx.quick else SCRIPTS
    bodies = [b for b in corpus("accepted") if OWN_QUERY.search(b)]
    sniplets: set[str] = set()
    queries: set[str] = set()
    for b in bodies:
        for item in read_library_imports(b):
            if item.kind == "sniplet":
                sniplets.add(item.name)
            elif len(item.candidates) == 1:
                queries.add(item.name)
    # Each sniplet imports one other (marc21 → mysql_connect …): the runner follows them.
    names = sorted(sniplets)
    snip_bodies = {name: SNIPLET_BODY.format(
        name=name, imports=f"from sniplets import {names[(i + 1) % len(names)]}" if len(names) > 1 and i else "")
        for i, name in enumerate(names)}
    folder = fresh_dir(ctx.work / "deps")
    memo = BenchMemo.sqlite(folder / "db")
    memo.add_library(sniplets=snip_bodies, queries={q: f"SELECT '{q}'" for q in queries})
    tasks = []
    for i in range(n):
        user = f"client{i % 50:03d}"
        file_name = f"task{i:05d}.xml"
        body = OWN_QUERY.sub(f"from queries.{user} import task{i:05d}_xml as mainquery", bodies[i % len(bodies)])
        tasks.append({"username": user, "file_name": file_name, "body": body, "sql": f"SELECT {i}"})
    ids = memo.add_tasks(tasks)
    db = MemoDatabase(memo.url)
    specs = [db.load_task(i) for i in ids]
    reps = 2

    resolved: list = []

    def resolve():
        library = db.library()  # a fresh cache, as each night gets
        resolved[:] = [resolve_dependencies(s, library) for s in specs]

    def bare():
        found = 0
        for s in specs:
            for node in ast.walk(ast.parse(s.script.body)):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found += 1
        return found

    base = measure(bare, 3)
    full = measure(resolve, reps, warmup=0)  # ≈ 30 s a pass at 1,000 tasks
    items = sum(len(d.sniplets) + len(d.queries) for d in resolved)
    sample = specs[:100]
    prof = cProfile.Profile()
    prof.enable()
    library = db.library()
    for s in sample:
        resolve_dependencies(s, library)
    prof.disable()
    section.profiles.append((f"`resolve_dependencies` of {len(sample)} of these tasks — by cumulative time",
                             profile_text(prof, 22, "cumulative")))
    db.dispose()
    memo.close()
    t = Table(f"Resolving the library imports of {n:,} tasks ({len(names)} sniplets, {len(queries)} library "
              f"queries; {items:,} items resolved)",
              ["what", "median (ms)", "min", "max", "per task (ms)", "vs bare"])
    t.add("bare: `ast.parse` + walk for imports, main scripts only", *mmm(base), ms(base.median / n), "×1.00")
    t.add("`resolve_dependencies` for each (one library cache, SQLite)", *mmm(full), ms(full.median / n),
          ratio(full.median, base.median))
    t.notes.append(
        "The main scripts are the guard corpus's real MEMO scripts, each importing its own query "
        "(`from queries.<client> import <task> as mainquery`), sniplets and library queries; every sniplet "
        "imports another, which the runner follows. Library rows are fetched once per night (cached); "
        "a sniplet source is parsed once per process (its imports are cached)."
    )
    section.tables.append(t)


def run(ctx) -> Section:
    section = Section(
        "scale", "Selection and guard at scale",
        intro="Each row against the least work that gets the same answer, measured in the same run.",
    )
    for name, step in (("selection", selection), ("guard", guard), ("dependencies", deps)):
        log(f"scale: {name}")
        try:
            step(ctx, section)
        except Exception as exc:  # noqa: BLE001 - one broken step must not lose the others
            import traceback

            traceback.print_exc()
            section.notes.append(f"**{name} failed**: `{exc.__class__.__name__}: {exc}`")
    return section


if __name__ == "__main__":
    sys.exit("run through bench/run_all.py --only scale")
