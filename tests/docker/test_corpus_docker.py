"""The guard's corpus of realistic report scripts through the real runner, in real containers.

The second half of tests/test_corpus_runs.py: every corpus file (discovered; a file with no
entry in tests/corpus_fixtures.py FAILS) becomes a MEMO task in a MEMO database on MariaDB —
its MAIN script is the corpus file (or, for a corpus sniplet, its entry's driver), its own
query, library queries and sniplets are rows, named as MEMO Manager names them — and the
runner (``Runner`` with the docker sandbox: network ``none``, the library database on
``MEMO_CONTAINER_ALLOW``'s default 127.0.0.1:3306) runs it in a container, under the run-time
guard (``guard/launcher.py``, bind-mounted; the runner's policy). Each export must be the bytes the same tree exports as
a bare process (``python main.py``, the process sandbox's environment), but for the parts its
entry declares volatile (the clock, uuid4).

- One runner for a round of tasks; another round only where corpus scripts need different
  library items of one name (MEMO has one ``full_text_search`` and one ``mysql_connect``:
  three rounds today, the first holding all but two): the library rows are swapped between
  rounds and the runner, whose library lookups last its lifetime (a night), is made anew.
- ``pagination_api.py`` calls api.crossref.org. Its container has no route there (only the
  database is allowed), so the run fails as the script does not handle ``URLError``: the test
  asserts exactly that failure, and that it is not the guard's. Its bare process run reaches a
  fake Crossref on loopback (tests/test_corpus_runs.py covers it under the launcher).
- A probe task shows what the container path does: it reaches MariaDB and counts the rows,
  then exits 3, so that the runner keeps its stderr in the runlog; the launcher's
  ``memo-guard: refused in a library`` line for mysql.connector's ``lsb_release`` probe
  there says the script ran under the run-time guard.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from memo import schema
from memo.models import main_script_name
from memo.runner import Runner
from memo.sandbox import SandboxJob
from memo.sandbox import make_sandbox
from memo.settings import ContainerSettings
from tests.conftest import Memo, _mariadb_database, make_settings
from tests.corpus_fixtures import (
    FIXTURES,
    RUN_TIMEOUT,
    USERNAME,
    FakeCrossref,
    Run,
    corpus_files,
    create_library,
    diff,
    library_needs,
    main_body,
    mask,
    missing_entry_message,
    plan_files,
    run_job,
    write_tree,
)
from tests.docker.conftest import docker_settings

pytestmark = [pytest.mark.docker, pytest.mark.mariadb]

MARIADB_URL = os.environ.get("MEMO_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306")
NAMES = [p.name for p in corpus_files()]
CONTAINER_TIMEOUT = 120
THREADS = 4
"""Threads calling ``run_task`` (the runner's ``concurrency`` slots decide how many containers run)."""

CONTAINER_FAILURES = {
    "pagination_api.py": "urllib.error.URLError",
}
"""Corpus scripts that cannot work in a container, and the error their run fails with there:
pagination_api.py asks api.crossref.org (not on the allow-list, no route from network
``none``) and catches only ``HTTPError``."""

PROBE = """\
# Probe: reaches the library database from the container, then fails on purpose (exit 3)
# so that the runner keeps its stderr, where the run-time guard's lines show.
import sys

from sniplets import mysql_connect


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute("SELECT COUNT(*) FROM item")
    print("probe: %d items" % cursor.fetchone()[0], file=sys.stderr)
    sys.exit(3)


main()
"""

NOT_LAUNCHED = "the container did not run main.py under guard/launcher.py (no launcher line in the probe's stderr)"
LAUNCHED = re.compile(r"memo-guard: refused in a library\t[0-9a-f]+\tsubprocess\.Popen\t")
"""The launcher's line (with the run's nonce) for mysql.connector's lsb_release probe."""


@dataclass(frozen=True)
class ContainerRun:
    task_id: str
    round: int
    success: bool
    message: str
    export: bytes | None
    seconds: float


@pytest.fixture(scope="module")
def library():
    if os.environ.get("MEMO_TEST_SKIP_MARIADB") == "1" and os.environ.get("CI") != "true":
        pytest.skip("MEMO_TEST_SKIP_MARIADB=1")
    access, drop = create_library(MARIADB_URL)
    try:
        yield access
    finally:
        drop()


@pytest.fixture(scope="module")
def memo_db():
    """A MEMO database of the module's own on MariaDB (as tests/conftest.py makes them)."""
    admin, name, url = _mariadb_database()
    engine = sa.create_engine(url)
    schema.create_schema(engine)
    engine.dispose()
    memo = Memo(url)
    try:
        yield memo
    finally:
        memo.engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()


@pytest.fixture(scope="module")
def bare_exports(library, tmp_path_factory):
    """name → the bare process run of its tree (the sandbox's command and environment, no policy)."""
    root = tmp_path_factory.mktemp("corpus-bare")
    with FakeCrossref(root / "crossref") as crossref:
        settings = make_settings(root, f"sqlite:///{root / 'unused.sqlite'}", task_timeout=RUN_TIMEOUT,
                                 container=ContainerSettings(environment=crossref.environment()))
        sandbox = make_sandbox(settings)

        def run(name: str) -> Run:
            tree = write_tree(root / Path(name).stem, plan_files(name, FIXTURES[name], library))
            return run_job(sandbox, SandboxJob(tree=tree, timeout=RUN_TIMEOUT, name=f"bare-{name}"))

        names = [n for n in NAMES if n in FIXTURES]
        with ThreadPoolExecutor(3) as pool:
            return dict(zip(names, pool.map(run, names)))


def rounds_of(entries: dict, access) -> list[list[str]]:
    """The tasks in rounds such that, in each, a library item's name has one body."""
    rounds: list[tuple[list[str], dict]] = []
    for name, entry in entries.items():
        items = library_needs(name, entry, access)
        for names, chosen in rounds:
            if all(chosen.get(key, body) == body for key, body in items.items()):
                names.append(name)
                chosen.update(items)
                break
        else:
            rounds.append(([name], dict(items)))
    return [names for names, _ in rounds]


@pytest.fixture(scope="module")
def container_runs(library, memo_db, tmp_path_factory):
    """name → ContainerRun for every corpus file with an entry, and "probe" → the probe's."""
    root = tmp_path_factory.mktemp("corpus-docker")
    entries = {n: FIXTURES[n] for n in NAMES if n in FIXTURES}
    script_names = [main_script_name(USERNAME, e.file_name) for e in entries.values()]
    assert len(set(script_names)) == len(script_names), "two entries give the same task name"

    task_ids = {}
    for name, entry in entries.items():
        task_ids[name] = memo_db.task(USERNAME, entry.file_name, main_body(name, entry, library), sql=entry.sql)
    task_ids["probe"] = memo_db.task(USERNAME, "probe.txt", PROBE, sql=None)

    settings = docker_settings(root, timeout=CONTAINER_TIMEOUT, database_url=memo_db.url)
    results: dict[str, ContainerRun] = {}
    plan = rounds_of(entries, library)
    plan[0].append("probe")  # with round 0's mysql_connect: the test one, at the test database
    started = time.monotonic()
    for number, names in enumerate(plan):
        with memo_db.engine.begin() as conn:  # this round's library: one body per name
            conn.execute(sa.delete(schema.script).where(schema.script.c.type == "SNIP"))
            conn.execute(sa.delete(schema.query).where(schema.query.c.is_library.is_(True)))
        items: dict[tuple[str, str], str] = {}
        for name in names:
            if name != "probe":
                items.update(library_needs(name, entries[name], library))
        for (kind, item_name), body in items.items():
            if kind == "query":
                memo_db.query(item_name, body, library=True)
            else:
                memo_db.sniplet(item_name, body)
        runner = Runner(settings)

        def run(name: str, runner=runner, number=number) -> ContainerRun:
            clock = time.monotonic()
            outcome = runner.run_task(task_ids[name])
            export = Path(outcome.export_path).read_bytes() if outcome.success else None
            return ContainerRun(task_ids[name], number, outcome.success, outcome.message, export,
                                time.monotonic() - clock)

        with ThreadPoolExecutor(THREADS) as pool:
            results.update(zip(names, pool.map(run, names)))
    wall = time.monotonic() - started
    print(f"\ncorpus in containers: {len(results)} tasks in {len(plan)} round(s), {wall:.1f}s wall")
    return results


def test_the_library_conflicts_are_the_known_two(library):
    """full_text_search (kbart_csv.py runs it without a parameter, library_query_full_text.py with
    one) and mysql_connect (the corpus's own sniplet, and the test one): one MEMO database cannot
    hold both bodies of a name, so those tasks run in rounds of their own. A new conflict is
    worth a look."""
    bodies: dict[tuple[str, str], set[str]] = {}
    for name in NAMES:
        if name in FIXTURES:
            for key, body in library_needs(name, FIXTURES[name], library).items():
                bodies.setdefault(key, set()).add(body)
    assert {key for key, found in bodies.items() if len(found) > 1} == {
        ("query", "full_text_search"), ("sniplet", "mysql_connect")}
    plan = rounds_of({n: FIXTURES[n] for n in NAMES if n in FIXTURES}, library)
    where = {name: number for number, names in enumerate(plan) for name in names}
    assert where["kbart_csv.py"] != where["library_query_full_text.py"]
    assert where["mysql_connect_sniplet.py"] not in (where["comments_and_docstrings.py"],
                                                     where["library_query_full_text.py"])


def test_the_container_reaches_mariadb_under_the_launcher(container_runs):
    probe = container_runs["probe"]
    assert not probe.success and "exited with code 3" in probe.message, probe.message
    assert "probe: 12 items" in probe.message, f"the container did not reach MariaDB: {probe.message}"
    assert LAUNCHED.search(probe.message), NOT_LAUNCHED


@pytest.mark.parametrize("name", NAMES)
def test_the_container_export_is_the_bare_process_export(name, container_runs, bare_exports):
    entry = FIXTURES.get(name)
    if entry is None:
        pytest.fail(missing_entry_message(name), pytrace=False)
    probe = container_runs["probe"]
    assert LAUNCHED.search(probe.message), NOT_LAUNCHED
    run = container_runs[name]
    if name in CONTAINER_FAILURES:
        assert not run.success and CONTAINER_FAILURES[name] in run.message, run.message
        assert "memo-guard: refused" not in run.message.replace("memo-guard: refused in a library", ""), run.message
        assert "Illegal instructions" not in run.message, run.message
        return
    bare = bare_exports[name]
    assert bare.returncode == 0 and bare.stdout, f"{name} bare: {bare.describe()}"
    assert run.success, f"{name} in a container (round {run.round}): {run.message}"
    container, unmatched = mask(run.export, entry, "stdout")
    process, unmatched_bare = mask(bare.stdout, entry, "stdout")
    assert not unmatched and not unmatched_bare, f"{name}: stale Volatile patterns {unmatched or unmatched_bare}"
    assert container == process, f"{name}: the container's export differs\n" + diff(process, container,
                                                                                    ("process", "container"))


def test_every_run_was_recorded_and_the_container_reached_mariadb(container_runs, memo_db):
    """One runlog row per run (success or not), and the probe counted the rows from its container
    (network none, the database relayed in by the allow-list)."""
    rows = memo_db.runlog()
    assert sorted(r.id_task for r in rows) == sorted(r.task_id for r in container_runs.values())
    assert {r.id_task: bool(r.is_success) for r in rows} == {r.task_id: r.success for r in container_runs.values()}
    probe = container_runs["probe"]
    assert not probe.success and "probe: 12 items" in probe.message, probe.message
