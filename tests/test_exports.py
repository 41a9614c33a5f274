"""Export files: hostile names refused, atomic replacement, nothing partial in a client's folder."""

import os
import subprocess
import sys

import pytest

from memo.errors import TaskInvalid
from memo.exports import PARTIAL_DIR, ExportFile, check_path_name, export_target, remove_orphan_partials


@pytest.mark.parametrize(
    "username,file_name",
    [
        ("..", "a.xml"), ("abc", ".."), ("abc", "../../etc/passwd"), ("/etc", "a"), ("abc", "/etc/passwd"),
        ("abc", "a\x00b"), ("abc", ""), ("", "a"), ("abc", ".hidden"), ("tmp", "a.xml"),
        ("abc", "a" * 300), ("abc", "．．"), ("abc", "a／b"), ("abc", "a\\b"), ("abc", "line\nbreak"),
        ("abc", None),
    ],
)
def test_names_that_escape_or_hide_are_refused(tmp_path, username, file_name):
    with pytest.raises(TaskInvalid):
        export_target(tmp_path, username, file_name, dry_run=False)


def test_targets(tmp_path):
    assert export_target(tmp_path, "abccorp", "my task.xml", dry_run=False) == tmp_path / "abccorp" / "my task.xml"
    assert export_target(tmp_path, "abccorp", "a.xml", dry_run=True) == tmp_path / "tmp" / "abccorp_a.xml"
    assert check_path_name("Ökonomie-日本.csv", "file name") == "Ökonomie-日本.csv"


def test_symlinked_client_folder_leading_out_is_refused(tmp_path):
    (tmp_path / "exports").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "exports" / "abccorp")
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(TaskInvalid, match="outside"):
        export_target(tmp_path / "exports", "abccorp", "a.xml", dry_run=False)


def test_commit_replaces_atomically_and_abort_keeps_previous(tmp_path):
    target = export_target(tmp_path, "abccorp", "a.xml", dry_run=False)
    with ExportFile(tmp_path, target) as export:
        export.file.write(b"v1")
        assert not target.exists()  # nothing visible before commit
        assert export.commit() == 2
    assert target.read_bytes() == b"v1"
    with ExportFile(tmp_path, target) as export:
        export.file.write(b"partial")
    assert target.read_bytes() == b"v1"
    assert os.listdir(tmp_path / PARTIAL_DIR) == []
    assert os.listdir(tmp_path / "abccorp") == ["a.xml"]


def test_partial_of_a_killed_writer_is_removed_at_next_start(tmp_path):
    code = (
        "import os\nfrom pathlib import Path\nfrom memo.exports import ExportFile\n"
        f"e = ExportFile(Path({str(tmp_path)!r}), Path({str(tmp_path / 'abc' / 'a.xml')!r})).__enter__()\n"
        "e.file.write(b'x' * 1000)\nos.kill(os.getpid(), 9)\n"
    )
    subprocess.run([sys.executable, "-c", code])
    assert len(os.listdir(tmp_path / PARTIAL_DIR)) == 1
    target = tmp_path / "abc" / "b.xml"
    with ExportFile(tmp_path, target):  # a live writer's partial file is kept
        assert remove_orphan_partials(tmp_path) == 1
        assert len(os.listdir(tmp_path / PARTIAL_DIR)) == 1
