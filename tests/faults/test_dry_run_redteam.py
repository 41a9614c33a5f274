"""Red team: a dry run's output is ``<exports>/tmp/<username>_<file_name>`` (MEMO Manager reads it
there, as from the Java runner), so client ``a`` with a file ``b_c.txt`` writes the very file of
client ``a_b``'s dry run of ``c.txt``: what ``a_b`` previews is ``a``'s output. Left open: the path
is MEMO Manager's; a fix needs it to read another name (or the runner to refuse such pairs)."""

from __future__ import annotations

import pytest

from memo.runner import Runner
from tests.conftest import Memo, make_settings


@pytest.mark.xfail(strict=True, reason="MEMO's dry-run path <username>_<file_name> is ambiguous across clients")
def test_one_clients_dry_run_cannot_replace_anothers(tmp_path, sqlite_url):
    memo = Memo(sqlite_url)
    victim = memo.task("a_b", "c.txt", "print('victim preview')")
    attacker = memo.task("a", "b_c.txt", "print('attacker content')")
    runner = Runner(make_settings(tmp_path, sqlite_url))
    try:
        assert runner.run_task(victim, dry_run=True).success
        assert runner.run_task(attacker, dry_run=True).success
    finally:
        runner.db.dispose()
        memo.engine.dispose()
    assert (tmp_path / "exports" / "tmp" / "a_b_c.txt").read_text() == "victim preview\n"
