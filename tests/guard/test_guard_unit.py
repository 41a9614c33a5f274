"""Unit tests: message format, positions, NFKC, near-misses, the walk, syntax errors."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import libcst as cst
import pytest

from guard import Finding, GuardReport, Policy, check_source, default_policy, refusal_message
from guard.policy import FORBIDDEN_BUILTINS, normalize
from guard.visitor import GuardVisitor, walk
from tests.guard.conftest import ACCEPTED, REFUSED, read


def labels(source: str, policy: Policy | None = None) -> list[str]:
    return [f.summary() for f in check_source(source, "t", policy).findings]


# ----------------------------------------------------------------- the message
def test_message_keeps_the_old_summary_with_positions():
    source = "\n" * 11 + "x = 1;  open('/etc/passwd')\n"
    report = check_source(source, "abccorp:mytask_xml")
    assert refusal_message([report]) == "Illegal instructions found: {abccorp:mytask_xml=[open() at 12:8]}"


def test_message_lists_several_scripts_like_a_java_map():
    main = check_source("import os\nopen('x')\n", "abccorp:mytask_xml")
    snip = check_source("eval('1')\n", "marc21")
    clean = check_source("print(1)\n", "mysql_connect")
    assert refusal_message([main, clean, snip]) == (
        "Illegal instructions found: {abccorp:mytask_xml=[import os at 1:0, open() at 2:0], marc21=[eval() at 1:0]}"
    )


def test_message_is_none_when_all_clean():
    assert refusal_message([check_source("print(1)\n", "a"), check_source("", "b")]) is None
    assert refusal_message([]) is None


def test_syntax_error_message_and_both_kinds_together():
    bad = check_source("x = 1\ndef f(:\n    pass\n", "abccorp:mytask_xml")
    assert not bad.ok and bad.findings == ()
    assert bad.syntax_error.startswith("2:6: ")
    evil = check_source("exec('1')\n", "marc21")
    msg = refusal_message([bad, evil])
    assert msg.startswith("Illegal instructions found: {marc21=[exec() at 1:0]}; "
                          "Syntax error in abccorp:mytask_xml at 2:6: ")


def test_syntax_error_positions_are_zero_based_columns():
    assert check_source("x = (\n", "s").syntax_error == "1:4: '(' was never closed"
    assert check_source("if True:\npass\n", "s").syntax_error.startswith("2:0: expected an indented block")


@pytest.mark.parametrize(
    "source",
    ["a\0b", "\ud800 = 1", "(" * 500 + ")" * 500, "x = '''", "\tif x:\n  pass",
     "def f():\n\treturn 1\n        return 2\n"],
)
def test_unparseable_text_is_a_syntax_error_never_an_exception(source):
    report = check_source(source, "s")
    assert report.syntax_error is not None and not report.ok


def test_bom_is_skipped_like_python_does():
    assert check_source("\ufeffprint(1)\n").ok
    assert labels("\ufeffopen('x')\n") == ["open() at 1:0"]


# ----------------------------------------------------------------- positions
def test_positions_are_one_based_lines_zero_based_character_columns():
    report = check_source("s = 'é€'; eval('1')\nif s:\n    import os\n")
    assert [(f.line, f.column, f.label) for f in report.findings] == [(1, 10, "eval()"), (3, 4, "import os")]


def test_finding_carries_rule_code_label_reason():
    (f,) = check_source("rows = []\ndata = open('/etc/passwd').read()\n").findings
    assert f == Finding(
        rule="builtin", line=2, column=7, code="open('/etc/passwd')", label="open()",
        reason=FORBIDDEN_BUILTINS["open"],
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.line = 3  # type: ignore[misc]


def test_code_is_short():
    (f,) = check_source("exec('" + "x" * 500 + "')\n").findings
    assert len(f.code) <= 80 and f.code.endswith("…")


def test_report_is_frozen_and_ok_is_a_property():
    r = GuardReport("n")
    assert r.ok and r.findings == () and r.syntax_error is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.name = "m"  # type: ignore[misc]


# ----------------------------------------------------------------- near-misses
NEAR_MISSES = {
    "execute is not exec": "cursor = None\ncursor.execute(1)\ncursor.executemany(1, [])\n",
    "attributes named like builtins": "x = conn = None\nx.is_open()\nx.open\nconn.open()\nx.eval\n",
    "odd spacing": "def retrieval (x):\n    return x\nretrieval (1)\n",
    "names containing forbidden words": "os_version = 1\nevaluation = 2\nsubprocess_count = 3\nopen_access = 4\n",
    "words in strings": "title = 'Open Access'\nsql = \"SELECT * FROM t WHERE open = 1 AND exec('x')\"\n",
    "urlopen": "import urllib.request\nurllib.request.urlopen('https://x')\n",
    "re.compile": "import re\nre.compile('x')\n",
    "sys, narrowly": "import sys\nsys.stdout.write('x')\nsys.argv[1:]\nsys.stderr.flush()\n"
                    "sys.stdout.buffer.write(b'')\nprint(sys.version_info.major)\nsys.exit(0)\n",
    "getattr/hasattr with literal public names": "row = object()\ngetattr(row, 'title', '')\nhasattr(row, 'isbn')\n",
    "namedtuple's API": "from collections import namedtuple\nB = namedtuple('B', 'a')\nb = B(1)\n"
                        "b._asdict()\nB._fields\nb._replace(a=2)\nB._make([1])\nB._field_defaults\n",
    "super().__init__ and dunder definitions": "class A(dict):\n    def __init__(self):\n        super().__init__()\n"
                                               "    def __repr__(self):\n        return type(self).__name__\n",
    "a class's own private attributes": "class R:\n    def __init__(self):\n        self._rows = []\n"
                                        "    def _leader(self):\n        return len(self._rows)\n",
    "__name__ and __doc__": "if __name__ == '__main__':\n    print(__doc__, print.__name__)\n",
    "comments and docstrings": "# exec( eval( open( os. subprocess.\n\"\"\"os.system('x') and __import__('os')\"\"\"\n",
    "the task's own packages": "from sniplets import marc21\nmarc21.Record()\nfrom sniplets.marc21 import Record\n"
                               "from queries.abccorp import mytask_xml as mainquery\nprint(mainquery.query)\n",
    "in-memory streams": "import io\nimport sys\nbuf = io.StringIO()\n"
                         "io.TextIOWrapper(sys.stdout.buffer, encoding='utf-8')\n",
    "codecs and gzip in memory": "import codecs\nimport gzip\ncodecs.getwriter('utf-8')\ngzip.compress(b'x')\n",
    "ElementTree in memory": "import io\nimport xml.etree.ElementTree as ET\nET.fromstring('<a/>')\n"
                             "ET.tostring(ET.Element('a'))\nblob = b''\nET.iterparse(io.BytesIO(blob))\n",
    "from xml.etree import ElementTree": "from xml.etree import ElementTree as ET\nET.fromstring('<a/>')\n",
    "Literal values and forward references": "from typing import Literal\nKind = Literal['open', 'eval']\n"
                                            "class Book: pass\ndef f(x: Literal['exec']) -> 'Book':\n    pass\n",
    "literal format templates": "row = d = None\n'{0.title} {1[open]}'.format(row, d)\nprint(f'{row.title!r}')\n"
                                "T = '{0:>10}'\nT.format(1)\nstr.format('{}', 1)\n",
    "attrgetter/methodcaller with literal names": "from operator import attrgetter, itemgetter, methodcaller\n"
                                                  "attrgetter('year', 'title')\nmethodcaller('upper')\nitemgetter(0)\n",
    "NFKC identifiers that are not forbidden": "ｔｉｔｌｅ = 1\nprint(title)\n",
    "json to stdout": "import json\nimport sys\njson.dump({}, sys.stdout, default=str)\n",
    "star import of an allowed module": "from tinyhtml import *\nprint(h('p')('x').render())\n",
    "match patterns": "row = {}\nmatch row:\n    case {'open': True, **rest}:\n        pass\n"
                      "    case [first, *others]:\n        pass\n    case str(s) | int(s):\n        pass\n",
    "global": "count = 0\ndef f():\n    global count\n    count += 1\n",
    "the script's own _names": "_cache = {}\ndef _key(x):\n    return x\n_cache[_key(1)] = 2\n",
    "class-body dunders": "class Book:\n    __slots__ = ('title',)\n    __match_args__ = ('title',)\n",
    "__future__": "from __future__ import annotations\n",
    "async syntax": "async def f(items):\n    async for x in items:\n        await x\n",
}


@pytest.mark.parametrize("source", NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_near_misses_are_accepted(source):
    report = check_source(source)
    assert report.ok, [(f.summary(), f.rule) for f in report.findings]


@pytest.mark.parametrize(
    "source, expected",
    [
        ("ｅｖａｌ('1')\n", "eval() at 1:0"),  # full-width
        ("ᵉval('1')\n", "eval() at 1:0"),  # modifier letter small e
        ("𝐞𝐱𝐞𝐜('1')\n", "exec() at 1:0"),  # mathematical bold
        ("import ｏｓ\n", "import os at 1:0"),
        ("().__ｃlass__\n", ".__class__ at 1:3"),
        ("from ｓｙｓ import ｍｏｄｕｌｅｓ\n", "from sys import modules at 1:0"),
        ("getattr(x, '__class__')\n", "getattr(…, '__class__') at 1:11"),
    ],
)
def test_identifiers_are_compared_after_nfkc(source, expected):
    assert expected in labels(source)


def test_aliases_are_followed_wherever_the_import_is():
    # the use comes before the import in the text: the function may run after it
    src = "def f():\n    return x.open('/etc/passwd')\n\nimport io as x\n"
    assert labels(src) == ["x.open() at 2:11"]


def test_every_finding_has_a_rule_with_a_reason():
    for path in REFUSED:
        for f in check_source(read(path)).findings:
            assert f.rule and f.reason and f.label and f.code or f.rule == "internal-error"


def test_visitor_rules_are_documented():
    rules = [name for name in vars(GuardVisitor) if name.startswith("rule_")]
    assert len(rules) >= 15
    for name in rules:
        assert getattr(GuardVisitor, name).__doc__, name


# ----------------------------------------------------------------- the walk
class _Recorder(GuardVisitor):
    """Records every Name node the walk reaches."""

    def __init__(self, policy):
        super().__init__(policy)
        self.reached = set()

    def visit_Name(self, node):
        self.reached.add(id(node))
        return super().visit_Name(node)


class _AllNames(cst.CSTVisitor):
    def __init__(self):
        super().__init__()
        self.names = []

    def visit_Name(self, node):
        self.names.append(node)


@pytest.mark.parametrize("path", REFUSED + ACCEPTED, ids=lambda p: p.stem)
def test_the_walk_misses_no_name(path):
    """Every Name libcst's own traversal finds is either walked as a read or
    recorded by the node that owns it (an attribute, a parameter, an import):
    the fast walk skips nothing of the tree unseen."""
    module = cst.parse_module(read(path))
    every = _AllNames()
    module.visit(every)
    recorder = _Recorder(default_policy())
    walk(module, recorder)
    missing = [n.value for n in every.names
               if id(n) not in recorder.reached and normalize(n.value) not in recorder.identifiers]
    assert not missing


def test_the_walk_is_iterative_deep_nesting_does_not_exhaust_the_stack():
    source = "x = " + "[" * 150 + "open" + "]" * 150 + "\n"
    assert [f.rule for f in check_source(source).findings] == ["builtin"]


# ----------------------------------------------------------------- standalone
def test_guard_imports_neither_prefect_nor_memo():
    code = (
        "import sys, guard, guard.cli\n"
        "heavy = {'prefect', 'memo', 'pydantic', 'sqlalchemy', 'docker'}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_parser_disagreement_is_refused(monkeypatch):
    """If CPython ever saw an identifier that libcst's tree lacks, the rules
    would be blind to it: the script is refused."""
    import guard.check as check

    real = check._ast_identifiers

    def with_a_hidden_name(tree):
        found = real(tree)
        found["hidden_from_libcst"] = (2, 4)
        return found

    monkeypatch.setattr(check, "_ast_identifiers", with_a_hidden_name)
    report = check_source("x = 1\nif x:\n    print(x)\n", "s")
    assert [(f.rule, f.line, f.column, f.label) for f in report.findings] == [
        ("parser-disagreement", 2, 4, "hidden_from_libcst (parsers disagree)")
    ]


def test_parsers_agree_on_the_corpus():
    import ast

    import guard.check as check

    for path in REFUSED + ACCEPTED:
        text = read(path)
        visitor = GuardVisitor(default_policy())
        walk(cst.parse_module(text), visitor)
        assert set(check._ast_identifiers(ast.parse(text))) <= visitor.identifiers, path.name


def test_an_unexpected_failure_inside_the_guard_refuses(monkeypatch):
    import guard.check as check

    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(check.GuardVisitor, "finish", broken)
    (f,) = check_source("print(1)\n").findings
    assert f.rule == "internal-error" and "boom" in f.reason


def test_the_cyclic_gc_is_restored_after_a_check():
    import gc

    assert gc.isenabled()
    check_source("import os\n")
    check_source("x = (\n")
    assert gc.isenabled()
    gc.disable()
    try:
        check_source("print(1)\n")
        assert not gc.isenabled()
    finally:
        gc.enable()
