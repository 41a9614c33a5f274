"""Hostile data in MEMO's database: names that try to leave the client's folder, SQL full of
quotes and backslashes, output that is not UTF-8, a 5 MB script, 10,000 tasks on one night,
and rows pointing at deleted scripts. All of it stored in MariaDB and run by the Runner.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from memo import schema
from memo.exports import PARTIAL_DIR
from memo.runner import Runner
from memo.selection import select_due_tasks
from tests.faults.conftest import containers_of, settings_for

pytestmark = pytest.mark.mariadb

PREVIOUS = b"<export of abccorp/mytask.xml, yesterday's/>\n"

# (username, file_name, dry_run, expected): a message fragment for a refusal, or None: runs,
# and its export is one plain entry in the client's folder.
NAMES = [
    ("..", "a.xml", False, "would name a hidden or parent folder"),
    (".", "a.xml", False, "would name a hidden or parent folder"),
    ("abccorp", "..", False, "would name a hidden or parent folder"),
    ("abccorp", "../../../etc/cron.d/evil", False, "contains a path separator"),
    ("abccorp", "/etc/passwd", False, "contains a path separator"),
    ("abc/../../x", "a.xml", False, "contains a path separator"),
    ("abccorp", "a\\..\\..\\b.xml", False, "contains a path separator"),
    ("abccorp", "a\x00.xml", False, "contains a NUL character"),
    ("abc\x00corp", "a.xml", False, "contains a NUL character"),
    ("abccorp", "line\nbreak.xml", False, "contains control characters"),
    ("tmp", "a.xml", False, "reserved for dry runs"),
    # unicode look-alikes that normalise (NFKC) to separators or dots
    ("abccorp", "\uff0e\uff0e", False, "would name a hidden or parent folder"),      # fullwidth ..
    ("abccorp", "\u2024\u2024", False, "would name a hidden or parent folder"),      # one-dot leaders
    ("abccorp", "\ufe52hidden.xml", False, "would name a hidden or parent folder"),  # small full stop
    ("abccorp", "a\uff0fb.xml", False, "contains a path separator"),                 # fullwidth solidus
    ("abc\uff3ccorp", "a.xml", False, "contains a path separator"),                  # fullwidth backslash
    # very long names: the filesystem allows 255 bytes, MEMO's columns 45/100 characters
    ("abccorp", "\U0001f600" * 51, False, "longer than 200 bytes"),
    ("\U0001f600" * 45, "\U0001f600" * 50, True, "is longer than 255 bytes"),
    # look-alikes that stay plain names: contained, each its own entry
    ("abccorp", "a\u2215b.xml", False, None),            # division slash is not a separator
    ("abccorp", "\u202egnp.exe", False, None),           # right-to-left override
    ("\u0430bccorp", "mytask.xml", False, None),         # Cyrillic a: another client, not abccorp
    ("abccorp", "x" * 100, False, None),
    ("abccorp", "\U0001f600" * 50, False, None),         # 200 bytes
    ("\U0001f600" * 45, "\U0001f600" * 10, True, None),  # a dry run of a long-named client
]


def files_below(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def outside_exports(root: Path) -> set[str]:
    return {p for p in files_below(root) if not p.startswith("exports/")}


def test_hostile_names_never_leave_the_clients_folder(memo, tmp_path, database_url):
    settings = settings_for(tmp_path, database_url)
    (settings.exports_dir / "abccorp").mkdir(parents=True)
    (settings.exports_dir / "abccorp" / "mytask.xml").write_bytes(PREVIOUS)
    (tmp_path / "etc").mkdir()
    outside_before = outside_exports(tmp_path)
    runner = Runner(settings)
    problems = []
    try:
        for username, file_name, dry_run, expected in NAMES:
            task_id = memo.task(username, f"seeded-{uuid.uuid4().hex}.xml", f"print({file_name!r})", sql=None)
            memo.execute("UPDATE task SET file_name = :f WHERE id = :t", f=file_name, t=task_id)
            outcome = runner.run_task(task_id, dry_run=dry_run)
            case = f"{username!r}/{file_name!r}{' (dry run)' if dry_run else ''}"
            rows = memo.runlog(task_id)
            if expected is None:
                target = (settings.exports_dir / "tmp" / f"{username}_{file_name}" if dry_run
                          else settings.exports_dir / username / file_name)
                if not outcome.success or target.read_text() != f"{file_name}\n":
                    problems.append(f"{case}: expected to run, got {outcome.message}")
            elif outcome.success or outcome.kind != "invalid" or expected not in outcome.message:
                problems.append(f"{case}: expected a refusal with {expected!r}, got {outcome.kind}: {outcome.message}")
            if dry_run:
                if rows:
                    problems.append(f"{case}: a dry run wrote a runlog row")
            elif [(bool(r.is_success), r.message) for r in rows] != [(outcome.success, outcome.message)]:
                problems.append(f"{case}: runlog {rows!r} does not match the outcome")
    finally:
        runner.db.dispose()
    assert not problems, "\n".join(problems)

    # The exports folder holds exactly the runs that were allowed, each a plain entry.
    assert files_below(settings.exports_dir) == {
        "abccorp/mytask.xml", "abccorp/a\u2215b.xml", "abccorp/\u202egnp.exe", "\u0430bccorp/mytask.xml",
        "abccorp/" + "x" * 100, "abccorp/" + "\U0001f600" * 50,
        "tmp/" + "\U0001f600" * 45 + "_" + "\U0001f600" * 10,
    }
    assert (settings.exports_dir / "abccorp" / "mytask.xml").read_bytes() == PREVIOUS  # the look-alike's
    assert os.listdir(settings.exports_dir / PARTIAL_DIR) == []
    # and nothing was written anywhere else
    assert {p for p in outside_exports(tmp_path) - outside_before if not p.startswith("work/locks/")} == set()
    assert not any(p.name.startswith("run-") for p in settings.work_dir.iterdir())


# --- SQL full of quotes and backslashes, output that is not UTF-8: in the container --------------

NASTY_SQL = {
    "q_triple_single": "SELECT ''' FROM t WHERE a = '''",
    "q_triple_double": 'SELECT """ AS x, "" AS y WHERE z = """',
    "q_backslashes": "SELECT '\\' AS one, '\\\\' AS two, '\\n' AS n, 'C:\\temp\\x41\\u0041\\N{DASH}' FROM t",
    "q_trailing_backslash": "SELECT 1 -- ends in a backslash \\",
    "q_all_at_once": "'''\"\"\"\\'''\\\"\"\"\\\\'\"",
    "q_ends_in_quote": "SELECT 'it''s'''",
    "q_ends_in_dquote": 'SELECT "x"""',
    "q_unicode": "SELECT '\u00d6konomie', '\u65e5\u672c', '\u0430' /* cyrillic */, '\u2028\u2029\u00a0\ufeff'",
    "q_crlf_tabs": "SELECT 1\r\nFROM t\r\n\tWHERE x = '\r'\n",
}
OWN_SQL = "SELECT \"\"\"own''' \\' \\\\\" FROM `t` WHERE s LIKE '%\\_%' ESCAPE '\\\\'"
RAW_BYTES = b"\n\xff\xfe\xc3\x28 \xed\xa0\x80 \xf0\x28\x8c\x28 \x00 \r\n end"

NASTY_MAIN = (
    "import json, sys\n"
    "from queries.abccorp import nasty_json as mainquery\n"
    f"from queries import {', '.join(NASTY_SQL)}\n"
    "found = {'own': mainquery.query}\n"
    + "".join(f"found[{name!r}] = {name}.query\n" for name in NASTY_SQL)
    + "sys.stdout.write(json.dumps(found))\n"
    "sys.stdout.flush()\n"
    f"sys.stdout.buffer.write({RAW_BYTES!r})\n"
    "sys.stderr.buffer.write(b'warning: \\xff\\xfe not utf-8 \\xed\\xa0\\x80\\n')\n"
)


@pytest.mark.docker
def test_sql_reaches_the_container_script_unchanged_and_raw_output_is_exact(memo, tmp_path, database_url):
    for name, body in NASTY_SQL.items():
        memo.query(name, body)
    task_id = memo.task("abccorp", "nasty.json", NASTY_MAIN, sql=OWN_SQL)
    with memo.engine.connect() as conn:  # MariaDB (utf8mb4_bin) kept every byte
        stored = dict(conn.execute(sa.select(schema.query.c.name, schema.query.c.body)).all())
    assert stored["abccorp:nasty_json"] == OWN_SQL and all(stored[n] == b for n, b in NASTY_SQL.items())

    runner = Runner(settings_for(tmp_path, database_url, "docker"))
    try:
        outcome = runner.run_task(task_id)
    finally:
        runner.db.dispose()
    assert outcome.success, outcome.message
    data = (runner.settings.exports_dir / "abccorp" / "nasty.json").read_bytes()
    text, raw = data[: -len(RAW_BYTES)], data[-len(RAW_BYTES):]
    assert json.loads(text) == {"own": OWN_SQL, **NASTY_SQL}
    assert raw == RAW_BYTES  # byte for byte: no decoding, no CRLF, nothing appended
    assert [bool(r.is_success) for r in memo.runlog(task_id)] == [True]
    assert containers_of(task_id) == []


def test_invalid_utf8_on_stderr_reaches_the_runlog_readably(memo, tmp_path, database_url):
    body = "import sys\nsys.stderr.buffer.write(b'bad row \\xff\\xfe\\xed\\xa0\\x80 at 42\\n')\nsys.exit(3)\n"
    task_id = memo.task("abccorp", "bad.xml", body)
    runner = Runner(settings_for(tmp_path, database_url))
    try:
        outcome = runner.run_task(task_id)
    finally:
        runner.db.dispose()
    assert not outcome.success and "exited with code 3" in outcome.message
    assert "bad row \ufffd\ufffd" in outcome.message and "at 42" in outcome.message
    assert memo.runlog(task_id)[-1].message == outcome.message  # stored in MariaDB as it was reported


# --- a 5 MB script ------------------------------------------------------------------------------------


def test_a_5mb_script_or_sniplet_is_refused_at_once(memo, tmp_path, database_url):
    memo.execute("ALTER TABLE script MODIFY body LONGTEXT")  # MEMO's TEXT would not even hold it
    huge = "print('start')\n" + "".join(f"value_{i} = {i!r} * 3  # padding\n" for i in range(160_000))
    size = len(huge.encode()) / 2**20
    assert size >= 5
    big_main = memo.task("abccorp", "big.xml", huge)
    memo.sniplet("huge", huge)
    uses_huge = memo.task("abccorp", "uses.xml", "from sniplets import huge\nprint(huge.value_1)\n")
    (tmp_path / "exports" / "abccorp").mkdir(parents=True)
    (tmp_path / "exports" / "abccorp" / "big.xml").write_bytes(PREVIOUS)
    runner = Runner(settings_for(tmp_path, database_url))
    try:
        for task_id, who in [(big_main, "abccorp:big_xml"), (uses_huge, "sniplet huge")]:
            started = time.monotonic()
            outcome = runner.run_task(task_id)
            assert time.monotonic() - started < 5, "a huge script must be refused before it is parsed"
            assert not outcome.success and outcome.kind == "invalid"
            assert outcome.message == f"{who}: script of {size:.1f} MiB is larger than the 256 KiB limit"
            assert memo.runlog(task_id)[-1].message == outcome.message
    finally:
        runner.db.dispose()
    assert (tmp_path / "exports" / "abccorp" / "big.xml").read_bytes() == PREVIOUS
    assert not (tmp_path / "exports" / "abccorp" / "uses.xml").exists()


# --- 10,000 tasks due on one night --------------------------------------------------------------------


def test_ten_thousand_tasks_due_are_selected_quickly(memo, database_url):
    night = dt.date(2024, 5, 15)
    clients = [{"id": str(uuid.uuid4()), "name": f"Client {i}", "username": f"client{i:03d}"} for i in range(100)]
    tasks = []
    for n in range(12_500):
        frequency, start = ("D", dt.date(2024, 1, 1))
        if n >= 10_000:  # 2,000 weekly tasks not due that night, 500 inactive daily ones
            frequency, start = ("W", dt.date(2024, 5, 2)) if n < 12_000 else ("D", dt.date(2024, 1, 1))
        tasks.append({
            "id": str(uuid.uuid4()), "id_homedir": clients[n % 100]["id"], "id_script": None,
            "file_name": f"task{n:05d}.xml", "extension": "xml", "start_date": start,
            "frequency": frequency, "is_active": n < 12_000,
        })
    with memo.engine.begin() as conn:
        conn.execute(schema.homedir.insert(), clients)
        conn.execute(schema.task.insert(), tasks)

    from memo.database import MemoDatabase

    db = MemoDatabase(database_url)
    try:
        started = time.monotonic()
        selection = select_due_tasks(db.candidate_tasks(night), night)
        elapsed = time.monotonic() - started
    finally:
        db.dispose()
    assert len(selection.due) == 10_000 and selection.malformed == []
    assert {t.id for t in selection.due} == {t["id"] for t in tasks[:10_000]}
    assert elapsed < 10, f"selecting 10,000 due tasks took {elapsed:.1f} s"


# --- rows pointing at deleted scripts, queries, sniplets ----------------------------------------------


def test_rows_pointing_at_deleted_items_fail_clearly(memo, tmp_path, database_url):
    deleted_script = memo.task("abccorp", "noscript.xml", "print(1)")
    memo.execute("DELETE FROM script WHERE name = 'abccorp:noscript_xml'")  # ON DELETE SET NULL
    dangling = memo.task("abccorp", "dangling.xml", "print(1)")
    with memo.engine.begin() as conn:  # a legacy database without the foreign key
        conn.exec_driver_sql("SET foreign_key_checks = 0")
        conn.execute(sa.text("UPDATE task SET id_script = :s WHERE id = :t"),
                     {"s": str(uuid.uuid4()), "t": dangling})
    deleted_query = memo.task("abccorp", "noquery.xml",
                              "from queries.abccorp import noquery_xml as mainquery\nprint(mainquery.query)\n")
    memo.execute("DELETE FROM query WHERE name = 'abccorp:noquery_xml'")
    memo.sniplet("helper", "X = 1\n")
    deleted_sniplet = memo.task("abccorp", "nosniplet.xml", "from sniplets import helper\nprint(helper.X)\n")
    memo.execute("DELETE FROM script WHERE name = 'helper'")
    expected = {
        deleted_script: "Task abccorp/noscript.xml has no script (it may have been deleted)",
        dangling: "Task abccorp/dangling.xml has no script (it may have been deleted)",
        deleted_query: "Library items not found: query 'abccorp:noquery_xml' (imported by abccorp:noquery_xml",
        deleted_sniplet: "sniplet 'helper' (imported by abccorp:nosniplet_xml, line 1)",
    }
    runner = Runner(settings_for(tmp_path, database_url))
    try:
        for task_id, message in expected.items():
            outcome = runner.run_task(task_id)
            assert not outcome.success and outcome.kind in ("invalid", "dependency"), outcome
            assert message in outcome.message, outcome.message
            assert memo.runlog(task_id)[-1].message == outcome.message
    finally:
        runner.db.dispose()
    assert not (tmp_path / "exports" / "abccorp").exists()
