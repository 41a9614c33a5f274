"""``memo-taskrunner guard --database``: every stored script against the policy, before the switch-over."""

from __future__ import annotations

import json

import pytest

from cli.main import main

CLEAN_MAIN = "import json\nimport sys\nprint(json.dumps({'ok': True}))\n"
REFUSED_MAIN = "import sys\nrows = open('/etc/passwd').read()\nprint(rows)\n"
REFUSED_SNIP = "def run(code):\n    return eval(code)\n"


@pytest.fixture
def review(memo, monkeypatch, capsys):
    """``review(*args) -> (exit status, stdout)`` on the ``memo`` database."""
    monkeypatch.setenv("MEMO_DATABASE_URL", memo.url)
    monkeypatch.delenv("MEMO_GUARD_POLICY", raising=False)

    def run(*args):
        code = main(["guard", "--database", *args])
        return code, capsys.readouterr().out

    return run


def test_each_refused_script_is_listed_with_what_and_why(memo, review):
    memo.task("abccorp", "clean.json", CLEAN_MAIN)
    memo.task("abccorp", "leaky.txt", REFUSED_MAIN)
    memo.sniplet("evaluator", REFUSED_SNIP)
    memo.sniplet("empty", None)
    code, out = review()
    assert code == 1
    assert "abccorp:leaky_txt (MAIN): refused" in out and "evaluator (SNIP): refused" in out
    assert "empty (SNIP): refused" in out and "the script has no body" in out
    assert "abccorp:clean_json" not in out
    assert "2:7" in out and "open" in out  # position and the instruction, with its reason after a dash
    assert out.rstrip().splitlines()[-1].startswith("3 of 4 stored scripts (2 MAIN, 2 SNIP) are refused")


def test_json_lists_every_script_with_its_verdict(memo, review):
    memo.task("abccorp", "clean.json", CLEAN_MAIN)
    memo.sniplet("evaluator", REFUSED_SNIP)
    code, out = review("--json")
    assert code == 1
    verdicts = {r["name"]: r for r in json.loads(out)}
    assert verdicts["abccorp:clean_json"]["ok"] is True and verdicts["abccorp:clean_json"]["findings"] == []
    assert verdicts["evaluator"]["ok"] is False and verdicts["evaluator"]["type"] == "SNIP"
    assert {f["line"] for f in verdicts["evaluator"]["findings"]} == {2}
    assert all(f["reason"] for f in verdicts["evaluator"]["findings"])


def test_a_clean_database_passes(memo, review):
    memo.task("abccorp", "clean.json", CLEAN_MAIN)
    code, out = review()
    assert code == 0 and out.strip() == "0 of 1 stored scripts (1 MAIN, 0 SNIP) are refused by the policy"


def test_a_database_without_memo_tables_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEMO_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert main(["guard", "--database"]) == 2
    assert "script" in capsys.readouterr().err
