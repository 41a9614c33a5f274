"""The guard's corpus of realistic report scripts, RUN: bare, and under the run-time guard.

The issue: every realistic report script is accepted and exports the same bytes as
before. For every file in ``tests/guard/corpus/accepted/`` (discovered: a new file without
an entry in tests/corpus_fixtures.py FAILS, saying what to add) this builds the script tree
with the runner's own code (import resolution, ``plan_tree``, ``render_query_module``) and
runs it twice with the process sandbox's command and environment (``ProcessSandbox.command``
and ``._env``: PATH, C.UTF-8, HOME = the tree, plus the sandbox's configured environment):

- bare: ``python main.py``, as the process sandbox runs a job without a run-time policy;
- launched: ``python -I -B guard/launcher.py ... main.py``, as it runs the runner's jobs,
  with ``runtime_policy(default_policy())``;

and asserts both exit 0 with the same non-empty stdout and the same stderr, byte for byte,
except the parts an entry declares volatile (the clock, uuid4: ``corpus_fixtures.Volatile``)
and the launcher's own ``memo-guard: refused in a library`` lines (mysql.connector probes
``lsb_release`` at every connect; the launcher refuses the program start, the library
carries on, and the launcher says so on stderr). Each export must also show what its entry
expects: the script read rows and formatted them.

The data: a MariaDB library of the module's own (random name, a read-only account of its
own, dropped after), on 127.0.0.1:3306 as the demo's; MEMO_TEST_MARIADB_URL and
MEMO_TEST_SKIP_MARIADB work as in conftest.py. The one script that calls a public API
(``pagination_api.py``) reaches a fake Crossref on loopback through ``https_proxy``: no
traffic leaves the host. The container side: tests/docker/test_corpus_docker.py.
"""

from __future__ import annotations

import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from memo.errors import MemoError
from memo.sandbox import SandboxJob, make_sandbox
from memo.settings import ContainerSettings
from tests.conftest import make_settings
from tests.corpus_fixtures import (
    CITED_BY,
    FIXTURES,
    ITEMS,
    RUN_TIMEOUT,
    FakeCrossref,
    Run,
    corpus_files,
    create_library,
    diff,
    launcher_policy,
    mask,
    missing_entry_message,
    payload,
    plan_files,
    run_job,
    strip_library_refusals,
    tree_files,
    write_tree,
)

MARIADB_URL = os.environ.get("MEMO_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306")
NAMES = [p.name for p in corpus_files()]
WORKERS = 3
"""Scripts run at once (each pair in order: bare, then launched)."""

pytestmark = pytest.mark.mariadb


@dataclass(frozen=True)
class Pair:
    bare: Run
    launched: Run
    nonce: str
    files_before: dict
    files_after: dict


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
def crossref(tmp_path_factory):
    with FakeCrossref(tmp_path_factory.mktemp("crossref")) as server:
        yield server


@pytest.fixture(scope="module")
def corpus_runs(library, crossref, tmp_path_factory):
    """name → Pair (or the runner's error building its tree), for every corpus file with an entry.

    One database, one fake Crossref and one sandbox for all; the pairs run ``WORKERS`` at a time.
    The proxy variables are the sandbox's configured environment (MEMO_CONTAINER_ENVIRONMENT)
    for every script: any urlopen of any script stays on loopback.
    """
    root = tmp_path_factory.mktemp("corpus")
    settings = make_settings(root, f"sqlite:///{root / 'unused.sqlite'}", task_timeout=RUN_TIMEOUT,
                             container=ContainerSettings(environment=crossref.environment()))
    sandbox = make_sandbox(settings)
    policy = launcher_policy()

    def run_pair(name: str):
        try:
            files = plan_files(name, FIXTURES[name], library)
        except MemoError as exc:
            return f"the runner cannot build its tree: {exc.message}"
        tree = write_tree(root / Path(name).stem, files)
        before = tree_files(tree)
        bare = run_job(sandbox, SandboxJob(tree=tree, timeout=RUN_TIMEOUT, name=f"bare-{name}"))
        nonce = secrets.token_hex(8)  # as the runner gives each run
        launched = run_job(sandbox, SandboxJob(tree=tree, timeout=RUN_TIMEOUT, name=f"guarded-{name}",
                                               runtime_policy=policy, guard_nonce=nonce))
        return Pair(bare, launched, nonce, before, tree_files(tree))

    started = time.monotonic()
    names = [n for n in NAMES if n in FIXTURES]
    with ThreadPoolExecutor(WORKERS) as pool:
        results = dict(zip(names, pool.map(run_pair, names)))
    wall = time.monotonic() - started
    pairs = [r for r in results.values() if isinstance(r, Pair)]
    print(f"\ncorpus runs: {len(pairs)} pairs in {wall:.1f}s wall; bare {sum(p.bare.seconds for p in pairs):.1f}s, "
          f"launched {sum(p.launched.seconds for p in pairs):.1f}s of run time")
    return results


@pytest.mark.parametrize("name", NAMES)
def test_the_script_exports_the_same_bytes_under_the_launcher(name, corpus_runs):
    entry = FIXTURES.get(name)
    if entry is None:
        pytest.fail(missing_entry_message(name), pytrace=False)
    pair = corpus_runs[name]
    if isinstance(pair, str):
        pytest.fail(f"{name}: {pair} (add it to its entry in tests/corpus_fixtures.py)", pytrace=False)
    bare, launched = pair.bare, pair.launched

    assert bare.returncode == 0, f"{name} bare: {bare.describe()}"
    assert launched.returncode == 0, f"{name} under the launcher: {launched.describe()}"
    assert bare.stdout.strip(), f"{name}: empty export"

    # Real work: the export shows the rows, formatted (and its stderr what the script reports).
    text = payload(entry, bare.stdout)
    for piece in entry.expect:
        assert piece in text, f"{name}: {piece!r} not in its export:\n{text[:3000]}"
    err = bare.stderr.decode("utf-8", "replace")
    for piece in entry.expect_stderr:
        assert piece in err, f"{name}: {piece!r} not in its stderr:\n{err[:3000]}"

    # The same bytes, but for what the clock and chance decide (each entry says what and why).
    out_bare, unmatched_bare = mask(bare.stdout, entry, "stdout")
    out_launched, unmatched_launched = mask(launched.stdout, entry, "stdout")
    assert not unmatched_bare and not unmatched_launched, f"{name}: stale Volatile patterns {unmatched_bare}"
    assert out_launched == out_bare, f"{name}: the export differs under the launcher\n" + diff(out_bare, out_launched)

    # stderr the same too, once the launcher's own "refused in a library" lines are out:
    # mysql.connector probes `lsb_release` at every connect, the launcher refuses the program
    # start (the library carries on without it) and says so on stderr.
    assert b"memo-guard" not in bare.stderr
    launched_err, _ = strip_library_refusals(launched.stderr, pair.nonce)
    err_bare, unmatched_bare = mask(bare.stderr, entry, "stderr")
    err_launched, unmatched_launched = mask(launched_err, entry, "stderr")
    assert not unmatched_bare and not unmatched_launched, f"{name}: stale Volatile patterns {unmatched_bare}"
    assert err_launched == err_bare, f"{name}: stderr differs under the launcher\n" + diff(err_bare, err_launched)
    assert b"memo-guard" not in err_launched, f"{name}: a launcher line that is not a library's refusal"

    # Neither run changed its tree (the launcher refuses writes; the bare one had no reason to).
    changed = {p for p in set(pair.files_after) | set(pair.files_before)
               if pair.files_after.get(p) != pair.files_before.get(p)}
    assert not changed, f"{name}: the runs changed its tree: {sorted(changed)}"


def test_every_entry_is_a_corpus_file():
    stale = sorted(set(FIXTURES) - set(NAMES))
    assert not stale, f"entries in tests/corpus_fixtures.py for files not in the corpus: {stale}"
    assert len(NAMES) >= 33


KNOWN_LIBRARY_REFUSALS = {
    ("subprocess.Popen", "subprocess.Popen()"): "mysql.connector probes `lsb_release` at every connect",
    ("import", "import of the native module _mysql_connector"):
        "mysql.connector's optional C extension (the sniplets connect with use_pure=True)",
    ("import", "import of the native module termios"): "getpass (imported by mysql.connector) does without it",
}
"""The launcher's ``refused in a library`` lines the comparison strips: refusals the library survives."""


def test_the_stripped_lines_are_refusals_the_libraries_survive(corpus_runs):
    """What the comparison strips is known, and the probe it is there for is among it."""
    seen: dict[tuple[str, str], set[str]] = {}
    for name, pair in corpus_runs.items():
        if isinstance(pair, Pair):
            for event, _file, _line, what in strip_library_refusals(pair.launched.stderr, pair.nonce)[1]:
                seen.setdefault((event, what.split(" (in ")[0]), set()).add(name)
    unknown = {key: sorted(names) for key, names in seen.items() if key not in KNOWN_LIBRARY_REFUSALS}
    assert not unknown, f"library refusals nobody has looked at: {unknown}"
    assert ("subprocess.Popen", "subprocess.Popen()") in seen, "no lsb_release probe: has mysql.connector changed?"


def test_the_network_script_reached_only_the_fake_crossref(corpus_runs, crossref):
    """pagination_api.py asked "api.crossref.org" about each DOI, through the proxy on loopback,
    in both runs; no other host was asked for."""
    pair = corpus_runs.get("pagination_api.py")
    assert isinstance(pair, Pair) and pair.bare.returncode == 0
    dois = [row[7] for row in ITEMS if row[7] and not row[11]]
    gets = sorted(target for method, target, _ in crossref.requests if method == "GET")
    assert gets == sorted(2 * [f"https://api.crossref.org/works/{d}" for d in dois])
    assert {(m, t) for m, t, _ in crossref.requests if m != "GET"} == {("CONNECT", "api.crossref.org:443")}
    assert sum(1 for _, _, code in crossref.requests if code == 404) == 2 * len(set(dois) - set(CITED_BY))


def test_the_library_account_is_read_only(library):
    import pymysql

    conn = pymysql.connect(host=library.host, port=library.port, user=library.user, password=library.password,
                           database=library.database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM item")
            assert cur.fetchone() == (len(ITEMS),)
            for statement in ("INSERT INTO item (id) VALUES (99)", "DELETE FROM price", "DROP TABLE chapter"):
                with pytest.raises(pymysql.err.MySQLError) as refused:
                    cur.execute(statement)
                assert refused.value.args[0] in (1142, 1044), statement
    finally:
        conn.close()

