"""The export safety net with the process sandbox, on the real databases: an output replaces
the export only when well-formed for its extension and not empty where the export is not;
the export replaced is kept in the history; a shrink is announced. (Containers:
tests/docker/test_export_rules_docker.py.)"""

import hashlib
import json
import os

import pytest

from memo.export_history import history_dir, keep_version, list_versions
from memo.exports import PARTIAL_DIR
from memo.runner import Runner
from memo.settings import Settings
from tests.conftest import make_settings

DEFAULTS = {name: Settings.model_fields[name].default
            for name in ("validate_exports", "empty_export", "export_history", "shrink_warn")}

MALFORMED = {
    "feed.xml": ("<catalog><book>1</book>\n<book>2</catalog>\n", "mismatched tag at line 2, column 10"),
    "truncated.xml": ('<?xml version="1.0"?>\n<collection>\n  <record>', "no element found at line 3, column 11"),
    "news.rss": ("<rss><channel><item><title>A & B</title></item></channel></rss>", "not well-formed"),
    "titles.json": ('[{"id": 1},\n {"id": 2},\n {"id": ', "premature EOF at the end of the output"),
    "bad.JSON": ('{"a": 1,\n "b": tru}\n', "at line 2, column"),
    # red team 2026-12-02: yajl's "multiple values" took these as two values each
    "lines.json": ('{"id": 1}\n{"id": 2}\n', "trailing garbage"),
    "zero.json": ("01", "trailing garbage"),
    "glued.json": ("{}{}", "trailing garbage"),
}

WELL_FORMED = {
    "feed.xml": '\ufeff<?xml version="1.0" encoding="UTF-8"?>\n<a x="1"><![CDATA[<not a tag>]]>é</a>\n',
    "CAPS.XML": "<a/>",
    "news.rss": '<rss version="2.0"><channel><title>T &amp; U</title></channel></rss>\n',
    "titles.json": '[{"id": 1, "n": 12345678901234567890123, "t": "\\u00e9\u00e9"}]\n',
    "table.csv": "not,xml,<at all\n",
}


def printing(text: str) -> str:
    """A MAIN script that prints ``text`` exactly."""
    return f"print({text!r}, end='')\n"


@pytest.fixture
def rules_settings(tmp_path, database_url):
    return make_settings(tmp_path, database_url, **DEFAULTS)


def run(memo, settings, task_id, **kw):
    runner = Runner(settings)
    try:
        return runner.run_task(task_id, **kw)
    finally:
        runner.db.dispose()


def set_output(memo, username, file_name, text):
    name = f"{username}:{file_name.replace('.', '_', 1)}".lower()
    memo.execute("UPDATE script SET body = :b WHERE name = :n", b=printing(text), n=name)


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("file_name", sorted(MALFORMED))
def test_a_malformed_output_fails_and_keeps_the_previous_export(memo, rules_settings, file_name):
    text, reason = MALFORMED[file_name]
    export = rules_settings.exports_dir / "abccorp" / file_name
    good = '{"ok": true}' if file_name.lower().endswith("json") else "<ok/>"
    task_id = memo.task("abccorp", file_name, printing(good))
    assert run(memo, rules_settings, task_id).success
    before = export.read_bytes()

    set_output(memo, "abccorp", file_name, text)
    outcome = run(memo, rules_settings, task_id)

    assert not outcome.success and outcome.kind == "output"
    assert reason in outcome.message, outcome.message
    assert outcome.message.startswith("output is not ") and outcome.message.endswith("; previous export kept")
    assert export.read_bytes() == before
    assert [r.is_success for r in memo.runlog(task_id)] == [True, False]
    assert memo.runlog(task_id)[-1].message == outcome.message
    assert list((rules_settings.exports_dir / PARTIAL_DIR).iterdir()) == []
    versions = list_versions(export, history_dir(rules_settings.exports_dir, "abccorp", file_name))
    assert [v.current for v in versions] == [True]


@pytest.mark.parametrize("file_name", sorted(WELL_FORMED))
def test_a_well_formed_output_is_written_byte_for_byte(memo, rules_settings, file_name):
    text = WELL_FORMED[file_name]
    task_id = memo.task("abccorp", file_name, printing(text))
    outcome = run(memo, rules_settings, task_id)
    assert outcome.success, outcome.message
    assert (rules_settings.exports_dir / "abccorp" / file_name).read_bytes() == text.encode("utf-8")


def test_off_checks_nothing(memo, tmp_path, database_url):
    settings = make_settings(tmp_path, database_url, **{**DEFAULTS, "validate_exports": "off"})
    task_id = memo.task("abccorp", "feed.xml", printing("<half"))
    assert run(memo, settings, task_id).success
    assert (settings.exports_dir / "abccorp" / "feed.xml").read_text() == "<half"


def test_only_the_extensions_named_are_checked(memo, tmp_path, database_url):
    settings = make_settings(tmp_path, database_url, **{**DEFAULTS, "validate_exports": "json"})
    xml_task = memo.task("abccorp", "feed.xml", printing("<half"))
    json_task = memo.task("abccorp", "t.json", printing("[1,"))
    assert run(memo, settings, xml_task).success
    assert not run(memo, settings, json_task).success


def test_an_unknown_extension_is_a_configuration_error(tmp_path, database_url):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="no well-formedness check for marc"):
        make_settings(tmp_path, database_url, validate_exports="xml,marc")


def test_a_dry_run_is_checked_too_and_keeps_no_history(memo, rules_settings):
    task_id = memo.task("abccorp", "feed.xml", printing("<a>"))
    outcome = run(memo, rules_settings, task_id, dry_run=True)
    assert not outcome.success and "not well-formed XML" in outcome.message
    set_output(memo, "abccorp", "feed.xml", "<a/>")
    assert run(memo, rules_settings, task_id, dry_run=True).success
    assert run(memo, rules_settings, task_id, dry_run=True).success
    assert not (rules_settings.exports_dir / ".history").exists()


def test_empty_output_does_not_replace_a_non_empty_export(memo, rules_settings):
    export = rules_settings.exports_dir / "abccorp" / "list.csv"
    task_id = memo.task("abccorp", "list.csv", printing("a,b\n"))
    assert run(memo, rules_settings, task_id).success
    set_output(memo, "abccorp", "list.csv", "")
    outcome = run(memo, rules_settings, task_id)
    assert not outcome.success
    assert outcome.message == "script printed nothing; previous export kept"
    assert export.read_text() == "a,b\n"
    dry = run(memo, rules_settings, task_id, dry_run=True)  # says what the real run would do
    assert not dry.success and dry.message == outcome.message


def test_empty_output_is_written_where_there_was_nothing_or_when_asked(memo, rules_settings, tmp_path, database_url):
    task_id = memo.task("abccorp", "first.csv", printing(""))
    assert run(memo, rules_settings, task_id).success  # no previous export: nothing to lose
    assert (rules_settings.exports_dir / "abccorp" / "first.csv").read_bytes() == b""
    assert run(memo, rules_settings, task_id).success  # empty replacing empty

    writing = make_settings(tmp_path, database_url, **{**DEFAULTS, "empty_export": "write"})
    other = memo.task("abccorp", "second.csv", printing("x\n"))
    assert run(memo, writing, other).success
    set_output(memo, "abccorp", "second.csv", "")
    assert run(memo, writing, other).success
    assert (writing.exports_dir / "abccorp" / "second.csv").read_bytes() == b""


def test_the_history_keeps_the_newest_n_replaced_exports(memo, rules_settings):
    export = rules_settings.exports_dir / "abccorp" / "n.csv"
    folder = history_dir(rules_settings.exports_dir, "abccorp", "n.csv")
    task_id = memo.task("abccorp", "n.csv", printing("run 0\n"))
    assert run(memo, rules_settings, task_id).success
    assert not folder.exists()  # nothing replaced yet
    for n in range(1, 6):
        os.utime(export, (1_700_000_000 + n * 86400,) * 2)  # a night apart: distinct version names
        set_output(memo, "abccorp", "n.csv", f"run {n}\n")
        assert run(memo, rules_settings, task_id).success
    versions = list_versions(export, folder)
    assert [v.current for v in versions] == [True, False, False, False]
    assert [v.path.read_text() for v in versions] == ["run 5\n", "run 4\n", "run 3\n", "run 2\n"]
    assert [v.version for v in versions[1:]] == sorted((v.version for v in versions[1:]), reverse=True)
    # Nothing is added where the client's harvester looks.
    assert sorted(p.name for p in export.parent.iterdir()) == ["n.csv"]


@pytest.mark.parametrize("keep", [1, 0])
def test_history_of_one_and_none(memo, tmp_path, database_url, keep):
    settings = make_settings(tmp_path, database_url, **{**DEFAULTS, "export_history": keep})
    export = settings.exports_dir / "abccorp" / "k.csv"
    task_id = memo.task("abccorp", "k.csv", printing("a\n"))
    for text in ("b\n", "c\n"):
        assert run(memo, settings, task_id).success
        os.utime(export, (export.stat().st_mtime - 86400,) * 2)
        set_output(memo, "abccorp", "k.csv", text)
    assert run(memo, settings, task_id).success
    folder = history_dir(settings.exports_dir, "abccorp", "k.csv")
    kept = [v.path.read_text() for v in list_versions(export, folder) if not v.current]
    assert kept == (["b\n"] if keep == 1 else [])
    assert keep or not (settings.exports_dir / ".history").exists()


def test_a_crash_between_keeping_and_replacing_leaves_the_history_consistent(memo, rules_settings):
    """The history link comes before the rename: a crash between them leaves the current export
    also in the history, which the listing shows once and the next run does not keep twice."""
    export = rules_settings.exports_dir / "abccorp" / "c.csv"
    folder = history_dir(rules_settings.exports_dir, "abccorp", "c.csv")
    task_id = memo.task("abccorp", "c.csv", printing("one\n"))
    assert run(memo, rules_settings, task_id).success
    keep_version(export, folder)  # the crashed run got this far
    assert [v.current for v in list_versions(export, folder)] == [True]
    set_output(memo, "abccorp", "c.csv", "two\n")
    assert run(memo, rules_settings, task_id).success
    versions = list_versions(export, folder)
    assert [v.path.read_text() for v in versions] == ["two\n", "one\n"]
    assert len(list(folder.iterdir())) == 1


def test_a_shrinking_export_is_announced(memo, rules_settings, caplog):
    task_id = memo.task("abccorp", "s.csv", printing("x" * 1000))
    first = run(memo, rules_settings, task_id)
    assert first.success and first.change == "new" and first.warning is None
    set_output(memo, "abccorp", "s.csv", "x" * 900)
    steady = run(memo, rules_settings, task_id)
    assert steady.warning is None and steady.change == "-10.0%" and steady.previous_bytes == 1000
    set_output(memo, "abccorp", "s.csv", "x" * 300)
    with caplog.at_level("WARNING", logger="memo.runner"):
        shrunk = run(memo, rules_settings, task_id)
    assert shrunk.success and shrunk.message == "OK"  # MEMO Manager's answer is unchanged
    assert shrunk.warning.startswith("export shrank to 300 bytes from 900 (33% of the one it replaced")
    assert shrunk.change == "-66.7% (shrank)"
    assert any("export shrank" in r.getMessage() and "abccorp/s.csv" in r.getMessage() for r in caplog.records)


def test_the_artifact_row_shows_bytes_and_change(memo, rules_settings):
    from flows.units import outcome_row

    task_id = memo.task("abccorp", "r.json", printing(json.dumps([1, 2, 3])))
    row = outcome_row(run(memo, rules_settings, task_id))
    assert (row["bytes"], row["change"]) == (9, "new")
    set_output(memo, "abccorp", "r.json", json.dumps([1]))
    row = outcome_row(run(memo, rules_settings, task_id))
    assert (row["bytes"], row["change"]) == (3, "-66.7% (shrank)")


def test_a_runner_killed_mid_run_leaves_export_and_history_as_they_were(memo, tmp_path, database_url):
    """SIGKILL while the script streams: nothing of the run reaches the export or the history;
    the next start removes its partial file and the next run keeps the right versions."""
    import signal
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMO_")}
    env.update(MEMO_DATABASE_URL=database_url, MEMO_EXPORTS_DIR=str(tmp_path / "exports"),
               MEMO_WORK_DIR=str(tmp_path / "work"), MEMO_SANDBOX="process")
    export = tmp_path / "exports" / "abccorp" / "k.xml"
    folder = history_dir(tmp_path / "exports", "abccorp", "k.xml")
    task_id = memo.task("abccorp", "k.xml", printing("<one/>"))
    command = [sys.executable, "-m", "cli.main", "run-task", task_id]
    for text in (None, "<two/>"):
        if text:
            os.utime(export, (export.stat().st_mtime - 86400,) * 2)
            set_output(memo, "abccorp", "k.xml", text)
        assert subprocess.run(command, env=env, capture_output=True, timeout=120).returncode == 0
    before = [(v.version, v.path.read_bytes()) for v in list_versions(export, folder)]

    memo.execute("UPDATE script SET body = :b WHERE name = 'abccorp:k_xml'",
                 b="import time\nprint('<three>' * 1000, flush=True)\ntime.sleep(20)\n")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    partial = tmp_path / "exports" / PARTIAL_DIR
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(p.stat().st_size for p in partial.glob("*")):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    assert [(v.version, v.path.read_bytes()) for v in list_versions(export, folder)] == before
    assert export.read_bytes() == b"<two/>"
    set_output(memo, "abccorp", "k.xml", "<four/>")
    os.utime(export, (export.stat().st_mtime - 86400,) * 2)
    assert subprocess.run(command, env=env, capture_output=True, timeout=120).returncode == 0
    assert list(partial.iterdir()) == []  # the killed run's partial file went at this start
    assert [v.path.read_bytes() for v in list_versions(export, folder)] == [b"<four/>", b"<two/>", b"<one/>"]


@pytest.mark.parametrize("file_name, text", [("a.xml", "<a/>"), ("a.xml", "<a>"), ("a.json", "[1]"), ("a.json", "[1")])
def test_a_checks_verdict_is_the_same_when_asked_again(file_name, text):
    from memo.export_checks import check_for, parse_extensions

    check = check_for(file_name, parse_extensions(DEFAULTS["validate_exports"]))
    check.feed(text.encode())
    assert check.problem() == check.problem() == check.problem()
    assert (check.problem() is None) == (text in ("<a/>", "[1]"))


@pytest.mark.xfail(strict=True, reason="known gap (2026-12-02): expat keeps every open element, so an output of "
                   "31 MB of '<a>' grows the runner by ~1.2 GB; a depth bound by handlers costs 3x the check's "
                   "speed, and a bound by sys.getallocatedblocks refused legitimate exports (other threads' "
                   "allocations, distinct tag names: 2026-12-03 review); to be designed")
def test_a_deeply_nested_xml_output_does_not_grow_the_runner():
    """expat keeps every open element: 31 MB of '<a>' grow the runner by ~1.2 GB."""
    import subprocess
    import sys

    code = ("import resource\nfrom memo.export_checks import XmlCheck\nc = XmlCheck()\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "for _ in range(40):\n    c.feed(b'<a>' * (1 << 18))\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    grown_kib = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   check=True, timeout=120).stdout)
    assert grown_kib < 200 * 1024


def test_a_deeply_nested_json_output_does_not_grow_the_runner():
    """yajl keeps a bit per level: 100 M levels of '[' stay small."""
    import subprocess
    import sys

    code = ("import resource\nfrom memo.export_checks import JsonCheck\nc = JsonCheck()\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "for _ in range(100):\n    c.feed(b'[' * (1 << 20))\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    grown_kib = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   check=True, timeout=120).stdout)
    assert grown_kib < 200 * 1024


@pytest.mark.parametrize("file_name, raw, reason", [
    ("surrogate.json", b'"\xed\xa0\x80"', "output is not valid JSON: 'utf-8' codec can't decode byte 0xed"),
    ("overlong.json", b'"\xc0\xaf"', "output is not valid JSON:"),
    ("encoding.xml", b'<?xml version="1.0" encoding="bogus-enc"?><a/>', "unknown encoding: bogus-enc"),
])
def test_bytes_no_parser_decodes_fail_the_run_not_the_runner(memo, rules_settings, file_name, raw, reason):
    """Red team 2026-12-02: these raised out of the check and crashed ``run-task``."""
    export = rules_settings.exports_dir / "abccorp" / file_name
    good = "[1]" if file_name.endswith("json") else "<ok/>"
    task_id = memo.task("abccorp", file_name, printing(good))
    assert run(memo, rules_settings, task_id).success
    set_body = f"import sys\nsys.stdout.buffer.write({raw!r})\n"
    memo.execute("UPDATE script SET body = :b WHERE name = :n", b=set_body,
                 n=f"abccorp:{file_name.replace('.', '_', 1)}")
    outcome = run(memo, rules_settings, task_id)
    assert not outcome.success and outcome.kind == "output", outcome.message
    assert reason in outcome.message and outcome.message.endswith("previous export kept")
    assert export.read_text() == good


def test_a_flat_xml_of_many_distinct_element_names_is_accepted_while_other_threads_allocate():
    """What a memory bound on the check must never refuse: 250,000 distinct tag names (expat
    keeps one entry per name) in a flat document, checked while another thread allocates."""
    import threading

    from memo.export_checks import XmlCheck

    stop = threading.Event()

    def allocate() -> None:
        while not stop.is_set():
            [[] for _ in range(1000)]

    busy = threading.Thread(target=allocate, daemon=True)
    busy.start()
    try:
        check = XmlCheck()
        check.feed(b"<feed>")
        for start in range(0, 250_000, 10_000):
            check.feed("".join(f"<e{i}/>" for i in range(start, start + 10_000)).encode())
        check.feed(b"</feed>")
        assert check.problem() is None
    finally:
        stop.set()
        busy.join()
