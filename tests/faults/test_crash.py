"""Crash mid-run: the runner is SIGKILLed while a script writes a large export.

The previous export stays byte for byte, the client's folder never shows a partial
file, and the next start (``Runner.remove_orphans``) removes the orphaned script
tree, the partial export and — with the docker sandbox — the container.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from memo.runner import Runner
from tests.faults.conftest import containers_of, partial_files, settings_for, wait_for

pytestmark = pytest.mark.mariadb

# Writes ~38 MB in 64 KiB pieces over ~12 s: the kill lands in the middle of it.
SLOW_BIG = """\
import sys, time
piece = b"<record>" + b"x" * (65536 - 18) + b"</record>\\n"
for i in range(600):
    sys.stdout.buffer.write(piece)
    sys.stdout.buffer.flush()
    time.sleep(0.02)
"""
PREVIOUS = b"<export version='yesterday'>\n" + b"<row/>\n" * 50_000 + b"</export>\n"


def script_processes(tree_root: Path) -> list[int]:
    """Host processes whose working directory is a script tree below ``tree_root``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd.startswith(str(tree_root) + "/run-"):
                found.append(int(entry))
    return found


@pytest.mark.parametrize("sandbox", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_sigkill_mid_write_keeps_previous_export_and_next_start_cleans_up(
        memo, tmp_path, database_url, runner_child, sandbox):
    settings = settings_for(tmp_path, database_url, sandbox)
    task_id = memo.task("abccorp", "big.xml", SLOW_BIG)
    client = settings.exports_dir / "abccorp"
    client.mkdir(parents=True)
    (client / "big.xml").write_bytes(PREVIOUS)

    child = runner_child(settings, task_id)
    # Mid-write: the partial export has grown past 1 MiB and keeps growing.
    partial = wait_for(lambda: [p for p in partial_files(settings) if p.stat().st_size > (1 << 20)],
                       60, "the script to be writing its export")[0]
    size_at_kill = partial.stat().st_size
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert child.returncode == -signal.SIGKILL

    # What the client sees: yesterday's export, whole, and nothing else.
    assert (client / "big.xml").read_bytes() == PREVIOUS
    assert sorted(os.listdir(client)) == ["big.xml"]
    assert size_at_kill < 600 * 65536  # it really was killed mid-write
    # What the crash left: the partial export and the script tree (and the container).
    assert partial_files(settings) == [partial]
    trees = [p for p in settings.work_dir.iterdir() if p.name.startswith("run-") and p.is_dir()]
    assert len(trees) == 1
    if sandbox == "docker":
        assert len(containers_of(task_id)) == 1
        # The egress relay died with the runner: its sockets are left in the tree, only there.
        leftover_sockets = sorted(p.name for p in (trees[0] / ".memo-net").iterdir())
        assert leftover_sockets == ["0.sock"], leftover_sockets
    else:
        # The process sandbox's script loses its reader and dies at its next write.
        wait_for(lambda: not script_processes(settings.work_dir), 10, "the orphaned script to exit")
    assert memo.runlog(task_id) == []  # the run never ended: nothing to log

    # The next start removes all of it.
    runner = Runner(settings)
    try:
        removed = runner.remove_orphans()
        assert removed["trees"] == 1 and removed["partial_exports"] == 1, removed
        if sandbox == "docker":
            assert removed["containers"] >= 1, removed
            assert containers_of(task_id) == []
        assert partial_files(settings) == []
        assert not any(p.name.startswith("run-") for p in settings.work_dir.iterdir())
        assert not trees[0].exists()  # with the egress sockets in it
        assert (client / "big.xml").read_bytes() == PREVIOUS

        # ... and the task runs again at once: the dead runner's task lock went with it.
        memo.execute("UPDATE script SET body = :b", b="print('<export version=\"today\"/>')")
        outcome = runner.run_task(task_id, lock_wait=0)
        assert outcome.success, outcome.message
        assert (client / "big.xml").read_bytes() == b'<export version="today"/>\n'
        assert [bool(r.is_success) for r in memo.runlog(task_id)] == [True]
    finally:
        runner.db.dispose()


def test_a_live_runs_tree_and_partial_are_not_orphans(memo, tmp_path, database_url, runner_child):
    """A second process's start-up clean-up must not touch a run that is still going."""
    settings = settings_for(tmp_path, database_url)
    task_id = memo.task("abccorp", "big.xml", SLOW_BIG.replace("range(600)", "range(120)"))
    child = runner_child(settings, task_id)
    wait_for(lambda: [p for p in partial_files(settings) if p.stat().st_size > 0], 60, "the export to start")
    runner = Runner(settings)
    try:
        assert runner.remove_orphans() == {"trees": 0, "partial_exports": 0, "containers": 0}
    finally:
        runner.db.dispose()
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert '"success": true' in out
    assert (settings.exports_dir / "abccorp" / "big.xml").stat().st_size == 120 * 65536
    assert partial_files(settings) == []
