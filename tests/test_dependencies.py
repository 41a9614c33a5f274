"""Library imports read from the syntax tree and resolved to rows (pure: a dict is the library)."""

import pytest

from memo.dependencies import read_library_imports, resolve_dependencies
from memo.errors import DependencyError, TaskInvalid
from memo.models import Query, Script, Task, TaskSpec


class Library:
    def __init__(self, sniplets=(), queries=()):
        self.sniplets = {s.name: s for s in sniplets}
        self.queries = {q.name: q for q in queries}
        self.lookups = 0

    def sniplet(self, name):
        self.lookups += 1
        return self.sniplets.get(name)

    def query(self, name):
        self.lookups += 1
        return self.queries.get(name)


def snip(name, body="X = 1\n"):
    return Script(id=name, name=name, type="SNIP", body=body)


def q(name, body="SELECT 1"):
    return Query(id=name, name=name, body=body)


def spec(body, own=True):
    task = Task(id="t1", username="abccorp", file_name="mytask.xml", frequency="D", start_date=None)
    script = Script(id="s", name="abccorp:mytask_xml", type="MAIN", body=body, query_id="q")
    return TaskSpec(task, script, q("abccorp:mytask_xml") if own else None)


def names(source, **kw):
    return [(i.kind, i.candidates) for i in read_library_imports(source, **kw)]


def test_every_import_form_on_any_line():
    source = (
        "from sniplets import a, b as c\n"  # line 1: the old regex missed this one
        "import os.path\n"
        "from queries import x\n"
        "from queries.abccorp import mytask_xml as mainquery\n"
        "import sniplets.d\n"
        "import sniplets.e as e2\n"
        "def f():\n"
        "    from sniplets import late\n"
        "try:\n"
        "    import queries.y\n"
        "except ImportError:\n"
        "    pass\n"
    )
    assert names(source) == [
        ("sniplet", ("a",)),
        ("sniplet", ("b",)),
        ("query", ("x",)),
        ("query", ("abccorp:mytask_xml", "abccorp")),
        ("sniplet", ("d",)),
        ("sniplet", ("e",)),
        ("sniplet", ("late",)),
        ("query", ("y",)),
    ]


def test_strings_and_comments_are_not_imports():
    assert names("s = 'from sniplets import a'\n# from queries import b\n") == []


def test_star_import_is_refused_with_a_reason():
    with pytest.raises(DependencyError, match="import \\*"):
        read_library_imports("from sniplets import *\n")


def test_syntax_error_is_reported_with_position():
    with pytest.raises(TaskInvalid, match="syntax error at 2:"):
        read_library_imports("x = 1\ndef (:\n")


def test_resolves_through_sniplets_and_includes_own_query():
    lib = Library(
        sniplets=[snip("marc21", "from sniplets import mysql_connect\nfrom queries import fts\n"),
                  snip("mysql_connect", "from . import helpers\n"), snip("helpers")],
        queries=[q("fts"), q("abccorp:mytask_xml")],
    )
    deps = resolve_dependencies(spec("from sniplets import marc21\n"), lib)
    assert set(deps.sniplets) == {"marc21", "mysql_connect", "helpers"}
    assert set(deps.queries) == {"abccorp/mytask_xml", "fts"}


def test_own_query_included_even_when_not_imported():
    deps = resolve_dependencies(spec("print(1)\n"), Library())
    assert list(deps.queries) == ["abccorp/mytask_xml"]


def test_library_query_imported_by_attribute_form():
    lib = Library(queries=[q("fts")])
    deps = resolve_dependencies(spec("from queries.fts import query\n", own=False), lib)
    assert set(deps.queries) == {"fts"}


def test_another_clients_query():
    lib = Library(queries=[q("other:report_csv")])
    deps = resolve_dependencies(spec("from queries.other import report_csv\n", own=False), lib)
    assert set(deps.queries) == {"other/report_csv"}


def test_missing_items_are_all_named_before_anything_runs():
    lib = Library(sniplets=[snip("ok")])
    with pytest.raises(DependencyError) as err:
        resolve_dependencies(spec("from sniplets import ok, nope\nfrom queries import gone\n"), lib)
    assert "sniplet 'nope'" in err.value.message and "query 'gone'" in err.value.message
    assert "line 1" in err.value.message and "line 2" in err.value.message


def test_import_cycles_terminate():
    lib = Library(sniplets=[snip("a", "from sniplets import b\n"), snip("b", "from sniplets import a\n")])
    deps = resolve_dependencies(spec("from sniplets import a\n"), lib)
    assert set(deps.sniplets) == {"a", "b"}


def test_a_sniplet_without_body_fails_but_a_query_without_body_is_empty_sql():
    with pytest.raises(DependencyError, match="sniplet 'a' has no body"):
        resolve_dependencies(spec("from sniplets import a\n"), Library(sniplets=[snip("a", None)]))
    for body in ("", None):  # MEMO Manager saves NULL until someone writes SQL; the Java runner ran it
        deps = resolve_dependencies(spec("from queries import fts\n"), Library(queries=[q("fts", body)]))
        assert deps.queries["fts"].body == body


def test_syntax_error_in_a_sniplet_names_it():
    with pytest.raises(TaskInvalid, match="sniplet broken"):
        resolve_dependencies(spec("from sniplets import broken\n"), Library(sniplets=[snip("broken", "def (:")]))
