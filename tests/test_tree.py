"""The script tree: exact query modules, layout, permissions, and clean-up after crashes."""

import ast
import os
import stat
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from memo.errors import TaskInvalid
from memo.models import Dependencies, Query, Script, Task, TaskSpec
from memo.tree import ScriptTree, plan_tree, remove_orphan_trees, render_query_module

HOSTILE_SQL = [
    "SELECT 'it''s' AS a, \"dq\" FROM t",
    "SELECT '''' FROM t -- ''' triple",
    'SELECT """x""" FROM t',
    "SELECT 'C:\\new\\table' AS path, '\\\\' AS bs, 'end\\'",
    "SELECT 'Ökonomie', '日本語', '🙂' FROM t",
    "SELECT 1\r\nFROM t\r\n",
    "ends with quote'",
    'ends with dq"',
    "line\u2028sep \x0b\x0c",
]


@pytest.mark.parametrize("sql", HOSTILE_SQL)
def test_query_module_holds_the_sql_exactly(sql, tmp_path):
    text = render_query_module("abccorp:x", sql)
    (tmp_path / "q.py").write_text(text, encoding="utf-8", newline="")
    out = subprocess.run(
        [sys.executable, "-c", "import q,sys; sys.stdout.buffer.write(q.query.encode('utf-8'))"],
        cwd=tmp_path, capture_output=True, check=True,
    ).stdout
    assert out.decode("utf-8") == sql


@hsettings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))))
def test_any_sql_round_trips(sql):
    namespace = {}
    exec(compile(render_query_module("n", sql), "q.py", "exec"), namespace)  # test of our own output
    assert namespace["query"] == sql


def test_nul_in_sql_is_refused():
    with pytest.raises(TaskInvalid, match="NUL"):
        render_query_module("n", "a\x00b")


def test_readable_form_when_safe():
    assert "query = \"\"\"SELECT *\nFROM t\"\"\"" in render_query_module("n", "SELECT *\nFROM t")


def spec_and_deps():
    task = Task(id="t", username="abccorp", file_name="mytask.xml", frequency="D", start_date=None)
    script = Script(id="s", name="abccorp:mytask_xml", type="MAIN", body="print(1)\n")
    deps = Dependencies(
        sniplets={"marc21": Script(id="m", name="marc21", type="SNIP", body="M = 1\n")},
        queries={"abccorp/mytask_xml": Query("q", "abccorp:mytask_xml", "SELECT 1"),
                 "fts": Query("f", "fts", "SELECT 2")},
    )
    return TaskSpec(task, script, deps.queries["abccorp/mytask_xml"]), deps


def test_plan_lays_out_memo_tree():
    files = plan_tree(*spec_and_deps())
    assert set(files) == {
        "main.py", "queries/__init__.py", "queries/abccorp/__init__.py",
        "queries/abccorp/mytask_xml.py", "queries/fts.py", "sniplets/__init__.py", "sniplets/marc21.py",
    }
    assert files["main.py"] == "print(1)\n"
    ast.parse(files["queries/fts.py"])


def test_hostile_query_name_cannot_shape_a_path():
    spec, deps = spec_and_deps()
    deps.queries["../../etc/passwd"] = Query("x", "../../etc:passwd", "SELECT 1")
    with pytest.raises(TaskInvalid, match="cannot be a file in the script tree"):
        plan_tree(spec, deps)


def test_names_python_cannot_import_are_still_written():
    """The Java runner wrote them; a MAIN script that does not import its query still works."""
    spec, deps = spec_and_deps()
    deps.queries["abccorp/ökonomie_xml"] = Query("u", "abccorp:ökonomie_xml", "SELECT 1")
    deps.queries["abccorp/my-report_csv"] = Query("d", "abccorp:my-report_csv", "SELECT 2")
    files = plan_tree(spec, deps)
    assert "queries/abccorp/ökonomie_xml.py" in files and "queries/abccorp/my-report_csv.py" in files


def test_tree_is_unguessable_readable_and_removed(tmp_path):
    files = plan_tree(*spec_and_deps())
    with ScriptTree(tmp_path / "work", files) as a, ScriptTree(tmp_path / "work", files) as b:
        assert a != b and len(a.name) >= 32
        assert stat.S_IMODE(os.stat(a).st_mode) == 0o755
        assert stat.S_IMODE(os.stat(a / "sniplets" / "marc21.py").st_mode) == 0o644
        assert stat.S_IMODE(os.stat(tmp_path / "work").st_mode) == 0o700
        out = subprocess.run([sys.executable, "-c", "from queries import fts; print(fts.query)"],
                             cwd=a, capture_output=True, text=True)
        assert out.stdout == "SELECT 2\n"
    assert list((tmp_path / "work").iterdir()) == []


def test_tree_removed_on_exception(tmp_path):
    with pytest.raises(RuntimeError):
        with ScriptTree(tmp_path, {"main.py": ""}) as tree:
            raise RuntimeError
    assert not tree.exists()


def test_purge_off_keeps_tree(tmp_path):
    with ScriptTree(tmp_path, {"main.py": ""}, purge=False) as tree:
        pass
    assert (tree / "main.py").exists()


def test_orphans_of_a_dead_process_are_removed_live_ones_kept(tmp_path):
    # A child process creates a tree and dies without cleaning up (SIGKILL).
    code = (
        "import os, sys\nfrom memo.tree import ScriptTree\n"
        f"t = ScriptTree({str(tmp_path)!r}, {{'main.py': 'x'}})\np = t.__enter__()\n"
        "print(p, flush=True)\nos.kill(os.getpid(), 9)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    orphan = out.stdout.strip()
    assert os.path.isdir(orphan)
    with ScriptTree(tmp_path, {"main.py": "y"}) as live:
        assert remove_orphan_trees(tmp_path) == 1
        assert not os.path.exists(orphan) and live.exists()
    # a lock-less tree is removed only once older than the grace period
    stale = tmp_path / "run-stale"
    stale.mkdir()
    assert remove_orphan_trees(tmp_path) == 0
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert remove_orphan_trees(tmp_path) == 1
