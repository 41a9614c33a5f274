"""The embedded demo's sample data: what ``seed_demo`` stores, what is due, and that every script runs.

The script trees are laid out here by hand (no runner): main.py, the task's own
query, the library queries and sniplets it imports (followed through sniplets),
each query as ``query = <repr(sql)>``. Each tree runs as ``python main.py``.

The scripts read the sample library from MariaDB on 127.0.0.1:3306 (as the demo
does): the tests that run them create it under a random name, with a reader of
their own, and drop both after. MEMO_TEST_MARIADB_URL and MEMO_TEST_SKIP_MARIADB
work as in conftest.py.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import io
import json
import os
import re
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import mysql.connector
import pytest
from sqlalchemy import create_engine, select

from guard import check_source
from memo import schema
from cli.demo import samples
from cli.demo.run import create_sample_library, drop_sample_library
from cli.demo.samples import LibraryAccess
from memo.models import main_script_name

MARIADB_URL = os.environ.get("MEMO_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306")

# For the tests that only look at what is stored: nothing connects to it.
NOWHERE = LibraryAccess("127.0.0.1", 3306, "memo_demo_reader", "not-a-password", "memo_demo_library")


@pytest.fixture(scope="module")
def library():
    """The sample library in MariaDB, under a name of its own, with its own read-only account."""
    if os.environ.get("MEMO_TEST_SKIP_MARIADB") == "1" and os.environ.get("CI") != "true":
        pytest.skip("MEMO_TEST_SKIP_MARIADB=1")
    suffix = secrets.token_hex(5)
    names = dict(database=f"memo_demo_library_t{suffix}", reader=f"memo_demo_rd_{suffix}")
    access = create_sample_library(MARIADB_URL, **names)
    try:
        yield access
    finally:
        drop_sample_library(MARIADB_URL, **names)


def connect(access: LibraryAccess):
    return mysql.connector.connect(
        host=access.host, port=access.port, user=access.user, password=access.password,
        database=access.database, charset="utf8mb4", use_pure=True,
    )

DATES = [
    dt.date(2028, 2, 29),  # leap day: the yearly task must start on an earlier 29 February
    dt.date(2027, 1, 31),  # a 31st: the monthly task needs a 31-day month
    dt.date(2026, 3, 31),
    dt.date(2026, 3, 30),
    dt.date(2026, 3, 1),
    dt.date(2026, 11, 28),
    dt.date(2025, 12, 31),
]

DUE_FILES = {
    ("abccorp", "titles.xml"),
    ("unipress", "titles.csv"),
    ("openlib", "titles.json"),
    ("abccorp", "new_books.rss"),
    ("unipress", "catalogue.html"),
}


def due_by_memo_rules(frequency: str, start: dt.date, active: bool, day: dt.date) -> bool:
    """memo-facts' selection rule, written out independently of the module under test."""
    if not active or start > day:
        return False
    return {
        "D": True,
        "W": (day - start).days % 7 == 0,
        "M": day.day == start.day,
        "Y": (day.month, day.day) == (start.month, start.day),
    }.get(frequency, False)


def seeded(day: dt.date, library: LibraryAccess = NOWHERE):
    engine = create_engine("sqlite://")
    schema.create_schema(engine)
    return engine, samples.seed_demo(engine, day, library)


def rows(engine, table):
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(select(table))]


# --- what is stored ---------------------------------------------------------------------


@pytest.mark.parametrize("day", DATES, ids=str)
def test_returned_ids_are_exactly_the_due_tasks(day):
    engine, due = seeded(day)
    tasks = rows(engine, schema.task)
    expected = {
        t["id"] for t in tasks if due_by_memo_rules(t["frequency"], t["start_date"], t["is_active"], day)
    }
    assert len(due) == len(set(due))
    assert set(due) == expected
    users = {h["id"]: h["username"] for h in rows(engine, schema.homedir)}
    assert {(users[t["id_homedir"]], t["file_name"]) for t in tasks if t["id"] in due} == DUE_FILES
    # and the others exist, each for its own reason
    not_due = [t for t in tasks if t["id"] not in due]
    assert any(not t["is_active"] for t in not_due)
    assert any(t["start_date"] > day for t in not_due)
    assert any(t["is_active"] and t["start_date"] <= day and t["frequency"] == "W" for t in not_due)
    frequencies = {t["frequency"] for t in tasks if t["id"] in due}
    assert frequencies == {"D", "W", "M", "Y"}
    for t in tasks:
        if t["frequency"] in ("M", "Y") and t["id"] in due:
            assert t["start_date"] < day


def test_rows_follow_memo_naming():
    engine, _ = seeded(dt.date(2026, 5, 17))
    homedirs = {h["id"]: h for h in rows(engine, schema.homedir)}
    scripts = {s["id"]: s for s in rows(engine, schema.script)}
    queries = {q["id"]: q for q in rows(engine, schema.query)}
    assert 3 <= len(homedirs) <= 4
    assert all(len(h["access_key"]) == 32 for h in homedirs.values())
    assert "tmp" not in {h["username"] for h in homedirs.values()}
    for t in rows(engine, schema.task):
        main = scripts[t["id_script"]]
        own = queries[main["id_query"]]
        name = f"{homedirs[t['id_homedir']]['username']}:{t['file_name'].replace('.', '_', 1)}".lower()
        assert main["type"] == "MAIN" and main["name"] == name == main_script_name(
            homedirs[t["id_homedir"]]["username"], t["file_name"]
        )
        assert own["name"] == name and not own["is_library"]
        assert t["extension"] == t["file_name"].rsplit(".", 1)[1]
    sniplets = {s["name"] for s in scripts.values() if s["type"] == "SNIP"}
    assert sniplets == {"oapen_records", "xml_helpers", "mysql_connect"}
    assert all(":" not in n for n in sniplets)
    library = {q["name"] for q in queries.values() if q["is_library"]}
    assert "books_by_year" in library and all(":" not in n for n in library)
    assert all(s["id_query"] is None for s in scripts.values() if s["type"] == "SNIP")


def test_seed_uses_fresh_ids_each_time():
    _, first = seeded(dt.date(2026, 5, 17))
    _, second = seeded(dt.date(2026, 5, 17))
    assert not set(first) & set(second)


def test_the_exact_sql_path_is_exercised():
    sql = samples.TITLES_CSV_QUERY
    for piece in ("'", '"', "'''", '"""', "\\", "Ökonomie", "日本"):
        assert piece in sql
    # MariaDB's dialect: || is OR there, and a backslash in a literal is an escape (so doubled).
    for task in samples.DEMO_TASKS:
        assert "||" not in task.sql
    for query in (sql, samples.CATALOGUE_HTML_QUERY):
        assert r"NOT LIKE '%\\_draft%' ESCAPE '\\'" in query


def test_mysql_connect_holds_the_coordinates():
    access = LibraryAccess("db.example", 3307, "reader", "p'w\\\"x", "lib")
    engine, _ = seeded(dt.date(2026, 5, 17), access)
    body = {s["name"]: s["body"] for s in rows(engine, schema.script)}["mysql_connect"]
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(body).body
        if isinstance(node, ast.Assign)
    }
    assert constants == {
        "HOST": "db.example", "PORT": 3307, "USER": "reader", "PASSWORD": "p'w\\\"x", "DATABASE": "lib",
    }
    assert "use_pure=True" in body and 'charset="utf8mb4"' in body


def test_sample_library_size():
    assert 30 <= len(samples.DEMO_LIBRARY_ROWS) <= 60
    assert all(len(r) == len(samples.DEMO_LIBRARY_COLUMNS) for r in samples.DEMO_LIBRARY_ROWS)
    isbns = [r[5] for r in samples.DEMO_LIBRARY_ROWS]
    assert len(set(isbns)) == len(isbns)
    for isbn in isbns:  # valid ISBN-13 check digits
        assert sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(isbn)) % 10 == 0


# What MEMO's Code Guard refuses (and what the old regexes flagged): never in a script.
FORBIDDEN = [
    r"\bopen\s*\(", r"\bexec\b", r"\beval\b", r"\bos\b", r"\bsubprocess\b", r"__import__",
    r"\bimportlib\b", r"\bgetattr\b", r"\bglobals\b", r"\.\s*__\w+__", r"\bsys\s*\.\s*modules\b",
    r"\bshutil\b", r"\bpathlib\b", r"\bio\s*\.\s*open\b", r"\bcodecs\s*\.\s*open\b",
    r"exec *\(", r"eval *\(", r"os *\.", r"subprocess *\.", r"open *\(",
]


def test_scripts_keep_to_the_code_guard():
    engine, _ = seeded(dt.date(2026, 5, 17))
    for s in rows(engine, schema.script):
        ast.parse(s["body"])
        assert "sqlite3" not in s["body"], s["name"]
        for pattern in FORBIDDEN:
            match = re.search(pattern, s["body"])
            assert match is None, f"{s['name']}: {match.group(0)!r}"


def test_every_seeded_script_passes_the_guard(tmp_path):
    engine, _ = seeded(dt.date(2026, 5, 17))
    scripts = rows(engine, schema.script)
    assert {s["type"] for s in scripts} == {"MAIN", "SNIP"} and len(scripts) == len(samples.DEMO_TASKS) + 3
    for s in scripts:
        report = check_source(s["body"], s["name"])
        assert report.ok, report
    # and the command MEMO Manager would call, over every body as written
    for s in scripts:
        (tmp_path / f"{s['name'].replace(':', '_')}.py").write_text(s["body"], encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "guard.cli", "--json", str(tmp_path)], capture_output=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    reports = json.loads(proc.stdout)
    assert len(reports) == len(scripts) and all(r["ok"] for r in reports)


# --- running the scripts ----------------------------------------------------------------

LIBRARY_IMPORT = ("queries", "sniplets")


def library_imports(source: str):
    """(kind, module path below kind) for every library import in the source."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARY_IMPORT:
            parts = node.module.split(".")
            for alias in node.names:
                yield parts[0], "/".join(parts[1:] + [alias.name])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] not in LIBRARY_IMPORT, "demo scripts use from-imports"


def materialise(engine, task_id: str, root: Path) -> Path:
    with engine.connect() as conn:
        t = conn.execute(select(schema.task).where(schema.task.c.id == task_id)).one()
        main = conn.execute(select(schema.script).where(schema.script.c.id == t.id_script)).one()
        snips = conn.execute(select(schema.script).where(schema.script.c.type == "SNIP"))
        sniplets = {r.name: r.body for r in snips}
        queries = {r.name: r.body for r in conn.execute(select(schema.query))}
    tree = root / main.name.replace(":", "_")
    files = {"main.py": main.body}
    pending = [main.body]
    while pending:
        for kind, path in library_imports(pending.pop()):
            target = f"{kind}/{path}.py"
            if target in files:
                continue
            if kind == "sniplets":
                files[target] = sniplets[path]
                pending.append(sniplets[path])
            else:
                files[target] = f"query = {queries[path.replace('/', ':', 1)]!r}\n"
            parent = Path(target).parent
            while parent != Path("."):
                files.setdefault(f"{parent}/__init__.py", "")
                parent = parent.parent
    for rel, text in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text, encoding="utf-8")
    return tree


def run_tree(tree: Path) -> str:
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "main.py"], cwd=tree, capture_output=True, timeout=30, env=env
    )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert proc.stderr == b""
    assert proc.stdout.strip()
    return proc.stdout.decode("utf-8")


def check_xml(out: str) -> None:
    root = ET.fromstring(out.encode("utf-8"))
    assert root.tag == "titles"
    books = root.findall("book")
    assert len(books) == int(root.get("count")) == len(samples.DEMO_LIBRARY_ROWS)
    titles = {b.findtext("title") for b in books}
    assert '"Fake News" and Public Trust in Europe' in titles and "日本の近代文学と翻訳" in titles
    assert "Knowledge Commons & Scholarly Communication" in titles


def check_csv(out: str) -> None:
    assert "\r" not in out.replace("\r\n", "\n")
    table = list(csv.reader(io.StringIO(out, newline="")))
    header, body = table[0], table[1:]
    assert header == ["ISBN", "Title", "Author", "Publisher", "Year", "Subject", "Licence", "Citation", "URL"]
    assert len(body) == len(samples.DEMO_LIBRARY_ROWS) - 1  # the _draft record is withheld
    assert not any("_draft" in r[1] for r in body)
    first = sum(1 for r in samples.DEMO_LIBRARY_ROWS if r[8] in ("Ökonomie", "日本研究"))
    assert first >= 5
    assert {r[5] for r in body[:first]} == {"Ökonomie", "日本研究"}
    assert not {r[5] for r in body[first:]} & {"Ökonomie", "日本研究"}
    assert "unknown – ask the publisher's rights desk" in {r[6] for r in body}
    assert any(r[7].endswith('"Fake News" and Public Trust in Europe" (2023)') for r in body)


def check_json(out: str) -> None:
    doc = json.loads(out)
    assert doc["count"] == len(doc["books"]) > 0
    assert all(b["license"].startswith("CC BY") for b in doc["books"])
    assert sum(y["books"] for y in doc["books_by_year"]) == len(samples.DEMO_LIBRARY_ROWS)
    assert doc["books"][0]["url"].startswith("https://library.oapen.org/handle/20.500.12657/")


def check_rss(out: str) -> None:
    root = ET.fromstring(out.encode("utf-8"))
    assert root.tag == "rss" and root.get("version") == "2.0"
    items = root.findall("channel/item")
    assert 3 <= len(items) < len(samples.DEMO_LIBRARY_ROWS)
    assert all(i.findtext("guid").startswith("https://library.oapen.org/") for i in items)


def check_html(out: str) -> None:
    assert out.startswith("<!DOCTYPE html>")
    assert '<table id="catalogue">' in out and "</table>" in out
    assert "Knowledge Commons &amp; Scholarly Communication" in out
    assert "_draft" not in out


CHECKS = {"xml": check_xml, "csv": check_csv, "json": check_json, "rss": check_rss, "html": check_html}


def test_the_library_is_read_only_and_its_queries_run(library):
    connection = connect(library)
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*) FROM book")
        assert cursor.fetchone() == (len(samples.DEMO_LIBRARY_ROWS),)
        cursor.execute(samples.FULL_TEXT_SEARCH_QUERY, {"term": "%OPEN%"})
        found = cursor.fetchall()
        assert found and all("open" in " ".join(map(str, r)).lower() for r in found)
        for statement in ("INSERT INTO book (id) VALUES (999)", "DELETE FROM book", "DROP TABLE book",
                          "CREATE TABLE t (i INT)"):
            with pytest.raises(mysql.connector.Error) as refused:
                cursor.execute(statement)
            assert refused.value.errno in (1142, 1044), statement
        cursor.execute("SHOW GRANTS")
        grants = " ".join(g[0] for g in cursor.fetchall())
        assert f"GRANT SELECT ON `{library.database}`.*" in grants and "ALL PRIVILEGES" not in grants
        # The doubled backslashes are deliberate: without backslash escapes MariaDB refuses the query.
        cursor.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        with pytest.raises(mysql.connector.Error, match="ESCAPE"):
            cursor.execute(samples.TITLES_CSV_QUERY)
    finally:
        connection.close()


def test_due_scripts_run_and_give_their_format(tmp_path, library):
    engine, due = seeded(dt.date(2028, 2, 29), library)
    with engine.connect() as conn:
        tasks = {t.id: t for t in conn.execute(select(schema.task))}
    outputs = {}
    for task_id in due:
        tree = materialise(engine, task_id, tmp_path)
        out = run_tree(tree)
        CHECKS[tasks[task_id].extension](out)
        outputs[tasks[task_id].file_name] = out
    assert set(outputs) == {f for _, f in DUE_FILES}
    # deterministic: another day's seed gives the same files
    engine2, due2 = seeded(dt.date(2027, 1, 31), library)
    with engine2.connect() as conn:
        names = {t.id: t.file_name for t in conn.execute(select(schema.task))}
    for task_id in due2:
        if names[task_id] in ("new_books.rss", "titles.csv"):
            assert run_tree(materialise(engine2, task_id, tmp_path / "again")) == outputs[names[task_id]]


def test_scripts_that_are_not_due_run_too(tmp_path, library):
    engine, due = seeded(dt.date(2028, 2, 29), library)
    with engine.connect() as conn:
        others = [t for t in conn.execute(select(schema.task)) if t.id not in due]
    assert len(others) == 3
    for t in others:
        out = run_tree(materialise(engine, t.id, tmp_path))
        if t.extension == "json":
            assert json.loads(out)
        elif t.extension == "xml":
            assert ET.fromstring(out.encode("utf-8")).tag == "isbns"
        else:
            assert list(csv.reader(io.StringIO(out, newline="")))[0][0] == "Added"


def test_a_sniplet_imports_another():
    imports = set(library_imports(samples.OAPEN_RECORDS_SNIP))
    assert ("sniplets", "mysql_connect") in imports
    assert ("queries", "books_by_year") in set(library_imports(samples.TITLES_JSON_MAIN))
