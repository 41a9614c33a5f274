"""``history`` and ``rollback`` as an operator runs them: real processes, the real databases."""

import hashlib
import json
import os

import pytest

from memo.locks import task_lock
from memo.rollback import roll_back
from memo.settings import Settings
from tests.test_cli import cli
from tests.conftest import make_settings
from tests.test_export_rules import DEFAULTS, printing, run, set_output


@pytest.fixture
def env(tmp_path, database_url):
    return {
        "MEMO_DATABASE_URL": database_url,
        "MEMO_EXPORTS_DIR": str(tmp_path / "exports"),
        "MEMO_WORK_DIR": str(tmp_path / "work"),
        "MEMO_SANDBOX": "process",
        "MEMO_TIMEZONE": "Europe/Amsterdam",
    }


def three_nights(memo, env, tmp_path):
    """A task run three times, a night apart: the export and two kept versions.

    The nights run on the runner in this process, with the settings ``env`` gives the commands
    (the subject here is ``history`` and ``rollback``; ``run-task`` has tests of its own, and
    one run of it below)."""
    settings = make_settings(tmp_path, env["MEMO_DATABASE_URL"], timezone=env["MEMO_TIMEZONE"], **DEFAULTS)
    export = tmp_path / "exports" / "abccorp" / "h.xml"
    task_id = memo.task("abccorp", "h.xml", printing("<night n='1'/>"))
    for n in (1, 2, 3):
        if n > 1:
            os.utime(export, (1_764_640_800 + n * 86400,) * 2)  # 2025-12-02 02:00 UTC + n days
            set_output(memo, "abccorp", "h.xml", f"<night n='{n}'/>")
        outcome = run(memo, settings, task_id)
        assert outcome.success, outcome.message
    return task_id, export


def history(task_id, env):
    out = cli("history", task_id, "--json", env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_history_lists_the_export_and_the_kept_versions_newest_first(memo, env, tmp_path):
    task_id, export = three_nights(memo, env, tmp_path)
    rows = history(task_id, env)
    assert [r["current"] for r in rows] == [True, False, False]
    assert rows[0]["sha256"] == hashlib.sha256(export.read_bytes()).hexdigest()
    assert rows[0]["bytes"] == export.stat().st_size
    assert [r["version"] for r in rows[1:]] == ["20251205T020000Z", "20251204T020000Z"]
    assert rows[1]["date"] == "2025-12-05T02:00:00+00:00"
    assert set(rows[0]) == {"version", "date", "bytes", "sha256", "current"}
    text = cli("history", task_id, env=env)
    assert text.returncode == 0 and "20251205T020000Z" in text.stdout and "kept" in text.stdout
    assert "2025-12-05 03:00:00 CET" in text.stdout  # the dates in the runner's zone


def test_rollback_restores_the_bytes_and_writes_its_runlog_row(memo, env, tmp_path):
    task_id, export = three_nights(memo, env, tmp_path)
    replaced = export.read_bytes()
    assert replaced == b"<night n='3'/>"

    out = cli("rollback", task_id, env=env)
    assert out.returncode == 0, out.stderr
    assert export.read_bytes() == b"<night n='2'/>"
    row = memo.runlog(task_id)[-1]
    assert row.is_success
    assert row.message.startswith("Rolled back to the export of 2025-12-05 03:00:00")
    assert "Rolled back to the export of" in out.stdout
    rows = history(task_id, env)  # the replaced one is kept: nothing lost
    kept = {r["sha256"] for r in rows if not r["current"]}
    assert hashlib.sha256(replaced).hexdigest() in kept

    older = [r["version"] for r in rows if not r["current"] and r["version"].startswith("20251204")]
    out = cli("rollback", task_id, "--version", older[0], env=env)
    assert out.returncode == 0, out.stderr
    assert export.read_bytes() == b"<night n='1'/>"
    assert len(memo.runlog(task_id)) == 5  # three runs, two rollbacks


def test_rollback_without_a_kept_version_or_with_a_wrong_one_is_refused(memo, env, tmp_path):
    task_id = memo.task("abccorp", "once.xml", printing("<a/>"))
    assert cli("run-task", task_id, env=env).returncode == 0
    out = cli("rollback", task_id, env=env)
    assert out.returncode == 1 and "no kept version of once.xml" in out.stderr
    out = cli("rollback", task_id, "--version", "20990101T000000Z", env=env)
    assert out.returncode == 1 and "no kept version" in out.stderr
    assert (tmp_path / "exports" / "abccorp" / "once.xml").read_text() == "<a/>"
    out = cli("history", "00000000-0000-0000-0000-000000000000", env=env)
    assert out.returncode == 1 and "Traceback" not in out.stderr


def test_rollback_waits_for_no_run_it_would_race(memo, env, tmp_path):
    task_id, export = three_nights(memo, env, tmp_path)
    settings = Settings(database_url=env["MEMO_DATABASE_URL"], exports_dir=tmp_path / "exports",
                        work_dir=tmp_path / "work", sandbox="process", **DEFAULTS)
    from memo.errors import TaskBusy

    with task_lock(settings.work_dir, task_id, wait=0):
        with pytest.raises(TaskBusy):
            roll_back(settings, task_id)
    assert export.read_bytes() == b"<night n='3'/>"
