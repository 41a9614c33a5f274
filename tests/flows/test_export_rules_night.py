"""The export rules as a night shows them (Prefect test harness, MariaDB, process sandbox):
a malformed output's task run is Failed with the parser's reason, the previous export
kept; the artifact shows each task's bytes and their change; a shrink is in the summary."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from tests.conftest import make_settings
from tests.flows.conftest import artifact_rows, task_runs
from tests.test_export_rules import DEFAULTS, printing, set_output

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.mariadb,
              pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)]

NIGHT = dt.date(2024, 5, 15)


def test_a_night_fails_a_malformed_export_keeps_it_and_shows_sizes_and_shrink(memo, tmp_path, database_url):
    from flows.nightly import run_nightly

    settings = make_settings(tmp_path, database_url, **DEFAULTS)
    feed = memo.task("abccorp", "feed.xml", printing("<feed><entry/></feed>"))
    big = memo.task("abccorp", "big.json", printing(str(list(range(100)))))
    assert run_nightly(settings, NIGHT).is_completed()
    export = settings.exports_dir / "abccorp" / "feed.xml"
    os.utime(export, (export.stat().st_mtime - 86400,) * 2)

    set_output(memo, "abccorp", "feed.xml", "<feed><entry></feed>")
    set_output(memo, "abccorp", "big.json", "[1, 2]")
    state = run_nightly(settings, NIGHT + dt.timedelta(days=1))

    assert state.is_failed()
    assert "1 of 2 task(s) succeeded, 1 failed" in state.message
    assert "1 export(s) shrank below MEMO_SHRINK_WARN" in state.message
    assert export.read_text() == "<feed><entry/></feed>"
    runs = task_runs(state)
    assert runs["abccorp/feed.xml"].state.is_failed()
    assert runs["abccorp/feed.xml"].run_count == 1  # the task's own fault: never retried
    assert "not well-formed XML: mismatched tag at line 1, column 16" in runs["abccorp/feed.xml"].state.message
    assert runs["abccorp/big.json"].state.is_completed()
    rows = {r["task"]: r for r in artifact_rows(state)}
    assert rows["feed.xml"]["status"] == "Failed (output)" and rows["feed.xml"]["change"] == ""
    assert rows["big.json"]["bytes"] == 6 and rows["big.json"]["change"].endswith("% (shrank)")
    assert [r.is_success for r in memo.runlog(feed)] == [True, False]
    assert [r.is_success for r in memo.runlog(big)] == [True, True]
