"""The export safety net with real containers (both ways stdout leaves one: the attach
stream and the bind-mounted file), on the real MariaDB: malformed outputs fail and keep
the previous export byte for byte, well-formed ones are written byte for byte, an empty
output keeps the export, the history keeps what was replaced."""

from __future__ import annotations

import os

import pytest

from memo.export_history import history_dir, list_versions
from memo.runner import Runner
from tests.docker.conftest import docker_settings
from tests.test_export_rules import DEFAULTS, MALFORMED, WELL_FORMED, printing, set_output

pytestmark = [pytest.mark.docker, pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)]


def run(settings, task_id):
    runner = Runner(settings)
    try:
        return runner.run_task(task_id)
    finally:
        runner.db.dispose()


@pytest.fixture(params=["attach", "file"])
def settings(request, tmp_path, database_url):
    s = docker_settings(tmp_path, database_url=database_url, output=request.param)
    return s.model_copy(update=DEFAULTS)


CASES = ["feed.xml", "news.rss", "titles.json"]


def test_malformed_outputs_fail_and_well_formed_ones_pass_byte_for_byte(memo, settings):
    for file_name in CASES:
        export = settings.exports_dir / "abccorp" / file_name
        good = WELL_FORMED[file_name]
        task_id = memo.task("abccorp", file_name, printing(good))
        outcome = run(settings, task_id)
        assert outcome.success, (file_name, outcome.message)
        assert export.read_bytes() == good.encode("utf-8")

        text, reason = MALFORMED[file_name]
        set_output(memo, "abccorp", file_name, text)
        outcome = run(settings, task_id)
        assert not outcome.success and outcome.kind == "output", (file_name, outcome.message)
        assert reason in outcome.message and outcome.message.endswith("previous export kept")
        assert export.read_bytes() == good.encode("utf-8")
        assert [r.is_success for r in memo.runlog(task_id)] == [True, False]


def test_empty_output_keeps_the_export_and_the_history_keeps_what_was_replaced(memo, settings):
    export = settings.exports_dir / "abccorp" / "list.json"
    task_id = memo.task("abccorp", "list.json", printing("[1, 2, 3]"))
    assert run(settings, task_id).success
    set_output(memo, "abccorp", "list.json", "")
    outcome = run(settings, task_id)
    assert outcome.message == "script printed nothing; previous export kept"
    assert export.read_bytes() == b"[1, 2, 3]"

    one = settings.model_copy(update={"export_history": 1})
    for n in (4, 5):
        os.utime(export, (export.stat().st_mtime - 86400,) * 2)
        set_output(memo, "abccorp", "list.json", f"[{n}]")
        assert run(one, task_id).success
    versions = list_versions(export, history_dir(settings.exports_dir, "abccorp", "list.json"))
    assert [v.path.read_bytes() for v in versions] == [b"[5]", b"[4]"]
