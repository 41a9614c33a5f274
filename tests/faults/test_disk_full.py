"""Disk full: a 1 MiB tmpfs as the exports folder (or the work dir), a script printing 5 MB.

The task fails with a clear message naming the cause, the previous export stays
whole, the partial file is removed, and the runlog says what happened.
"""

from __future__ import annotations

import os

import pytest

from memo.exports import PARTIAL_DIR
from memo.runner import Runner
from tests.faults.conftest import containers_of, settings_for, tmpfs

pytestmark = pytest.mark.mariadb

FIVE_MB = """\
import sys
line = b"y" * 1023 + b"\\n"
for _ in range(5 * 1024):
    sys.stdout.buffer.write(line)
"""
PREVIOUS = b"<export version='yesterday'>" + b"z" * (200 * 1024) + b"</export>\n"


@pytest.mark.parametrize("sandbox", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_exports_disk_full_fails_clearly_and_keeps_previous(memo, tmp_path, database_url, sandbox):
    settings = settings_for(tmp_path, database_url, sandbox)
    task_id = memo.task("abccorp", "big.xml", FIVE_MB)
    with tmpfs(settings.exports_dir, "1m"):
        (settings.exports_dir / "abccorp").mkdir()
        (settings.exports_dir / "abccorp" / "big.xml").write_bytes(PREVIOUS)
        runner = Runner(settings)
        try:
            outcome = runner.run_task(task_id)
        finally:
            runner.db.dispose()
        assert not outcome.success
        assert outcome.kind == "export" and outcome.retryable
        assert "No space left on device" in outcome.message, outcome.message
        assert (settings.exports_dir / "abccorp" / "big.xml").read_bytes() == PREVIOUS
        assert os.listdir(settings.exports_dir / "abccorp") == ["big.xml"]
        assert os.listdir(settings.exports_dir / PARTIAL_DIR) == []  # the partial file is gone
        free = os.statvfs(settings.exports_dir)
        assert free.f_bavail * free.f_frsize > 700 * 1024
    rows = memo.runlog(task_id)
    assert [bool(r.is_success) for r in rows] == [False]
    assert "No space left on device" in rows[0].message
    if sandbox == "docker":
        assert containers_of(task_id) == []  # the script was stopped and its container removed
    assert not any(p.name.startswith("run-") for p in settings.work_dir.iterdir())


def fill(folder) -> None:
    with open(folder / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"f" * 4096)
        except OSError:
            pass


@pytest.mark.parametrize("case", ["tree_too_big", "already_full"])
def test_work_dir_full_fails_clearly_and_is_logged(memo, tmp_path, database_url, case):
    """No room for the script tree: a clear infrastructure failure with a runlog row, not a crash."""
    settings = settings_for(tmp_path, database_url)
    sql = "SELECT 1"
    if case == "tree_too_big":  # the task's own query, 600 KB, in a 256 KiB work dir
        sql = "SELECT '" + "q" * 600_000 + "'"
        memo.execute("ALTER TABLE query MODIFY body MEDIUMTEXT")  # MEMO's TEXT holds 64 KiB
    task_id = memo.task("abccorp", "big.xml", "print('ok')", sql=sql)
    (settings.exports_dir / "abccorp").mkdir(parents=True)
    (settings.exports_dir / "abccorp" / "big.xml").write_bytes(PREVIOUS)
    with tmpfs(settings.work_dir, "256k"):
        if case == "already_full":
            fill(settings.work_dir)
        runner = Runner(settings)
        try:
            outcome = runner.run_task(task_id)
        finally:
            runner.db.dispose()
        assert not outcome.success
        assert outcome.retryable, outcome
        assert "No space left on device" in outcome.message and str(settings.work_dir) in outcome.message
        assert not any(p.name.startswith("run-") for p in settings.work_dir.iterdir())
    assert (settings.exports_dir / "abccorp" / "big.xml").read_bytes() == PREVIOUS
    rows = memo.runlog(task_id)
    assert [bool(r.is_success) for r in rows] == [False]
    assert rows[0].message == outcome.message
