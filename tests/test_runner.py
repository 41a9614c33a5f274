"""One task end to end on the real databases (SQLite and MariaDB) with the process sandbox:
select → resolve → guard → tree → run → export → runlog, and every bad input of issue 2."""

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from memo.exports import PARTIAL_DIR
from memo.runner import Runner
from tests.conftest import make_settings, unguarded_policy
from tests.samples import library_task_export, seed_library_task



@pytest.fixture
def runner(settings):
    r = Runner(settings)
    yield r
    r.db.dispose()


def export(settings, user="abccorp", name="mytask.xml"):
    return settings.exports_dir / user / name


def test_task_runs_end_to_end_with_library_and_exact_sql(memo, runner, settings):
    task_id = seed_library_task(memo)
    outcome = runner.run_task(task_id)
    assert outcome.success, outcome.message
    assert outcome.message == "OK"
    expected = library_task_export()
    assert export(settings).read_bytes() == expected
    assert outcome.bytes_written == len(expected)
    rows = memo.runlog(task_id)
    assert [(r.is_success, r.message) for r in rows] == [(True, "OK")]
    assert list(settings.work_dir.glob("run-*")) == []  # tree purged
    assert outcome.task_result().keys() == {"idTask", "message", "dateTime", "output", "success"}


def test_a_task_whose_queries_have_no_sql_yet_still_runs_with_empty_queries(memo, runner, settings):
    """MEMO Manager saves a task's query with a NULL body until someone writes SQL; the Java
    runner wrote the module anyway and ran the script. A library query may be empty too."""
    memo.query("draft_query", None)
    body = ("from queries.abccorp import libonly_tsv as mainquery\nfrom queries import draft_query\n"
            "print(repr(mainquery.query), repr(draft_query.query))\n")
    task_id = memo.task("abccorp", "libonly.tsv", body, sql=None)
    memo.execute("UPDATE script SET id_query = :q WHERE name = 'abccorp:libonly_tsv'",
                 q=memo.query("abccorp:libonly_tsv", None, library=False))
    outcome = runner.run_task(task_id)
    assert outcome.success, outcome.message
    assert export(settings, name="libonly.tsv").read_text() == "'' ''\n"


def test_stdout_is_byte_exact_and_stderr_kept_apart(memo, runner, settings):
    body = (
        "import sys\n"
        "sys.stdout.buffer.write(b'line1\\nline2\\r\\n\\xff\\xfe not utf-8\\n\\x00end')\n"
        "sys.stderr.write('a warning on stderr\\n')\n"
    )
    task_id = memo.task("abccorp", "bin.dat", body)
    outcome = runner.run_task(task_id)
    assert outcome.success, outcome.message
    assert export(settings, name="bin.dat").read_bytes() == b"line1\nline2\r\n\xff\xfe not utf-8\n\x00end"


def test_failed_script_keeps_previous_export_and_logs_stderr_tail(memo, runner, settings):
    task_id = memo.task("abccorp", "mytask.xml", "print('v1')")
    assert runner.run_task(task_id).success
    memo.execute("UPDATE script SET body = :b",
                 b="print('partial'); import sys; sys.stderr.write('boom: bad row 42'); raise SystemExit(3)")
    outcome = runner.run_task(task_id)
    assert not outcome.success
    assert "exited with code 3" in outcome.message and "boom: bad row 42" in outcome.message
    assert export(settings).read_text() == "v1\n"
    assert os.listdir(settings.exports_dir / PARTIAL_DIR) == []
    rows = memo.runlog(task_id)
    assert [r.is_success for r in rows] == [True, False]
    assert "exited with code 3" in rows[-1].message


def test_guard_refusal_runs_nothing_and_is_logged_with_positions(memo, runner, settings):
    memo.sniplet("helper", "import os\nX = os.getcwd()\n")
    task_id = memo.task("abccorp", "mytask.xml",
                        "from sniplets import helper\nprint(helper.X)\nf = open('/etc/passwd')\n")
    outcome = runner.run_task(task_id)
    assert outcome.kind == "guard" and not outcome.success
    assert outcome.message.startswith("Illegal instructions found: {")
    assert "abccorp:mytask_xml=[open() at 3:4]" in outcome.message
    assert "helper=[import os at 1:0" in outcome.message
    assert memo.runlog(task_id)[-1].message == outcome.message
    assert not (settings.exports_dir / "abccorp").exists()


def test_dry_run_writes_tmp_and_no_runlog(memo, runner, settings):
    task_id = memo.task("abccorp", "mytask.xml", "print('dry')")
    outcome = runner.run_task(task_id, dry_run=True)
    assert outcome.success
    assert (settings.exports_dir / "tmp" / "abccorp_mytask.xml").read_text() == "dry\n"
    assert not export(settings).exists()
    assert memo.runlog(task_id) == []


def test_timeout_kills_the_whole_process_group(memo, tmp_path, database_url):
    settings = make_settings(tmp_path, database_url, task_timeout=1.5)
    body = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(p.pid, file=sys.stderr, flush=True)\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    task_id = memo.task("abccorp", "slow.txt", body)
    runner = Runner(settings, policy=unguarded_policy())
    started = dt.datetime.now()
    outcome = runner.run_task(task_id)
    assert (dt.datetime.now() - started).total_seconds() < 10
    assert not outcome.success and outcome.kind == "timeout"
    assert "timed out after 1.5 s" in outcome.message
    child = int(outcome.message.rsplit(":", 1)[1].split()[0])
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(child, 0)
            time.sleep(0.1)
    assert not export(settings, name="slow.txt").exists()
    assert memo.runlog(task_id)[-1].message.startswith("Script timed out")


def test_environment_is_scrubbed(memo, settings, monkeypatch):
    runner = Runner(settings, policy=unguarded_policy())
    monkeypatch.setenv("MEMO_SECRET_TOKEN", "s3cret")
    task_id = memo.task("abccorp", "env.json", "import json, os; print(json.dumps(dict(os.environ)))")
    assert runner.run_task(task_id).success
    env = json.loads(export(settings, name="env.json").read_text())
    runner.db.dispose()
    assert "MEMO_SECRET_TOKEN" not in env and "s3cret" not in json.dumps(env)
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"


@pytest.mark.parametrize(
    "case,expect",
    [
        ("no_script", "has no script"),
        ("deleted_script", "has no script"),
        ("no_body", "has no body"),
        ("syntax_error", "syntax error at 2:"),
        ("missing_sniplet", "sniplet 'nosuch'"),
        ("missing_query", "query 'nosuch'"),
        ("hostile_name", "path separator"),
        ("nul_name", "NUL"),
    ],
)
def test_bad_rows_fail_clearly_before_running_and_are_logged(memo, runner, settings, case, expect):
    body = "print('should not run')"
    kwargs = {}
    if case == "no_script":
        kwargs["with_script"] = False
    if case == "no_body":
        body = "   \n"
    if case == "syntax_error":
        body = "x = 1\ndef (:\n"
    if case == "missing_sniplet":
        body = "from sniplets import nosuch\n"
    if case == "missing_query":
        body = "from queries import nosuch\n"
    name = {"hostile_name": "../../evil.xml", "nul_name": "a\x00b.xml"}.get(case, "bad.xml")
    task_id = memo.task("abccorp", name, body, **kwargs)
    if case == "deleted_script":  # MariaDB sets id_script NULL; SQLite may leave it dangling
        memo.execute("DELETE FROM script WHERE name = 'abccorp:bad_xml'")
    outcome = runner.run_task(task_id)
    assert not outcome.success
    assert expect in outcome.message, outcome.message
    assert not (settings.exports_dir / "abccorp").exists()
    assert memo.runlog(task_id)[-1].message == outcome.message


def test_unknown_task_is_not_found_without_runlog(memo, runner):
    outcome = runner.run_task("00000000-0000-0000-0000-000000000000")
    assert outcome.kind == "not_found" and not outcome.success
    assert memo.runlog() == []


def test_non_id_is_refused(runner):
    assert runner.run_task("../../etc/passwd").kind == "invalid"


def test_large_output_streams_with_flat_memory(tmp_path, sqlite_url):
    """200 MB through the runner in a child process: exact sha256, peak RSS far below the output."""
    from tests.conftest import Memo

    memo = Memo(sqlite_url)
    body = "import sys\nchunk = bytes(range(256)) * 4096\nfor _ in range(200):\n    sys.stdout.buffer.write(chunk)\n"
    task_id = memo.task("abccorp", "big.bin", body)
    exports = tmp_path / "exports"
    code = (
        "import sys\n"
        "from memo.runner import Runner\nfrom tests.conftest import make_settings, unguarded_policy\n"
        "from pathlib import Path\n"
        f"s = make_settings(Path({str(tmp_path)!r}), {sqlite_url!r})\n"
        f"o = Runner(s).run_task({task_id!r})\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (pytest) across exec.
        "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]\n"
        "print(o.success, o.bytes_written, hwm)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=os.getcwd())
    success, size, rss_kb = out.stdout.split()
    assert success == "True", out.stderr
    assert int(size) == 200 * 1024 * 1024
    digest = hashlib.sha256()
    with open(exports / "abccorp" / "big.bin", "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    assert digest.hexdigest() == hashlib.sha256((bytes(range(256)) * 4096) * 200).hexdigest()
    assert int(rss_kb) < 100 * 1024, f"peak RSS {int(rss_kb) // 1024} MB"


def test_database_down_is_a_clear_infrastructure_error(tmp_path):
    settings = make_settings(tmp_path, "mysql+pymysql://root@127.0.0.1:1/oapen_memo")
    runner = Runner(settings)
    runner.db.retries, runner.db.backoff = 2, 0.01
    with pytest.raises(Exception) as err:
        runner.run_task("00000000-0000-0000-0000-000000000000")
    assert "unreachable" in str(err.value)


def test_refused_login_is_clear_and_not_retried(tmp_path):
    settings = make_settings(tmp_path, "mysql+pymysql://nosuchuser:wrong@127.0.0.1:3306/oapen_memo")
    runner = Runner(settings)
    with pytest.raises(Exception) as err:
        runner.run_task("00000000-0000-0000-0000-000000000000")
    assert "refused" in str(err.value) and "Access denied" in str(err.value)


def test_output_written_just_before_exit_is_never_lost(tmp_path, sqlite_url):
    """Regression: the read loop once gave up on a script that ended between two polls,
    leaving its last output in the pipe (exit 0, empty export). The subclass widens that
    window (a quiet poll, then the script writes and ends) so it happens every time."""
    from memo.sandbox.process import ProcessSandbox
    from tests.conftest import Memo

    class SlowToNotice(ProcessSandbox):
        poll_seconds = 0.001

        def _ended(self, proc):
            time.sleep(0.3)  # the script prints and exits meanwhile
            return super()._ended(proc)

    memo = Memo(sqlite_url)
    task_id = memo.task("abccorp", "late.txt", "import time\ntime.sleep(0.1)\nprint('x' * 100)\n")
    settings = make_settings(tmp_path, sqlite_url)
    outcome = Runner(settings, sandbox=SlowToNotice()).run_task(task_id)
    assert outcome.success and outcome.bytes_written == 101


def test_script_body_that_is_not_utf8_fails_clearly(tmp_path, sqlite_url):
    """MariaDB's utf8mb4 column refuses such bytes at insert; SQLite stores them: refuse at run."""
    from tests.conftest import Memo

    memo = Memo(sqlite_url)
    task_id = memo.task("abccorp", "latin1.xml", "print('x')")
    memo.execute("UPDATE script SET body = :b", b=b"print('caf\xe9')\n")
    outcome = Runner(make_settings(tmp_path, sqlite_url)).run_task(task_id)
    assert not outcome.success and outcome.kind == "invalid"
    assert "not valid UTF-8" in outcome.message
    assert memo.runlog(task_id)[-1].message == outcome.message


@pytest.mark.parametrize("name", ["victim/report.xml", "victim\u2215report.xml", "victim\uff0freport.xml",
                                  "victim\u2044report.xml"])
def test_no_slash_or_look_alike_in_a_label_part_splits_it(name):
    """A client named like another client's task must not read as ``victim/report.xml/x.txt``."""
    from memo.display import SLASHES, shown_part

    shown = shown_part(name)
    assert not any(slash in shown for slash in SLASHES), shown
    assert shown.startswith("victim\\") and shown.endswith("report.xml")


def test_a_script_writing_exactly_the_logged_lines_has_them_all_and_no_notice():
    """``LOG_LINES`` lines are all logged; the notice comes with the first line beyond them."""
    import logging

    from pathlib import Path

    from memo.sandbox.base import SandboxJob, StderrTail

    records: list[str] = []
    logger = logging.getLogger("memo.test.stderr-tail")
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        exact = StderrTail(SandboxJob(tree=Path("."), timeout=1, name="j"), logger=logger, log_lines=5)
        exact.feed(b"".join(b"line %d\n" % i for i in range(5)))
        assert records == [f"[j] line {i}" for i in range(5)]
        records.clear()
        over = StderrTail(SandboxJob(tree=Path("."), timeout=1, name="j"), logger=logger, log_lines=5)
        over.feed(b"".join(b"line %d\n" % i for i in range(8)))
        assert records[:5] == [f"[j] line {i}" for i in range(5)] and len(records) == 6
        assert "beyond the first 5 are not logged" in records[5]
    finally:
        logger.removeHandler(handler)
