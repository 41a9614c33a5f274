"""Unit tests: message format, positions, NFKC, policy files, syntax errors."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import libcst as cst
import pytest

from guard import (
    Finding,
    GuardReport,
    Policy,
    check_source,
    default_policy,
    load_policy,
    refusal_message,
)
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
    assert msg.startswith("Illegal instructions found: {marc21=[exec() at 1:0]}; Syntax error in abccorp:mytask_xml at 2:6: ")


def test_syntax_error_positions_are_zero_based_columns():
    assert check_source("x = (\n", "s").syntax_error == "1:4: '(' was never closed"
    assert check_source("if True:\npass\n", "s").syntax_error.startswith("2:0: expected an indented block")


@pytest.mark.parametrize(
    "source",
    ["a\0b", "\ud800 = 1", "(" * 500 + ")" * 500, "x = '''", "\tif x:\n  pass", "def f():\n\treturn 1\n        return 2\n"],
)
def test_unparseable_text_is_a_syntax_error_never_an_exception(source):
    report = check_source(source, "s")
    assert report.syntax_error is not None and not report.ok


def test_bom_is_skipped_like_python_does():
    assert check_source("\ufeffprint(1)\n").ok
    assert labels("\ufeffopen('x')\n") == ["open() at 1:0"]


# ----------------------------------------------------------------- positions
def test_positions_are_one_based_lines_zero_based_character_columns():
    report = check_source("s = 'é€'; eval('1')\nif x:\n    import os\n")
    assert [(f.line, f.column, f.label) for f in report.findings] == [(1, 10, "eval()"), (3, 4, "import os")]


def test_finding_carries_rule_code_label_reason():
    (f,) = check_source("rows = []\ndata = open('/etc/passwd').read()\n").findings
    assert f == Finding(
        rule="forbidden-name", line=2, column=7, code="open('/etc/passwd')", label="open()",
        reason=default_policy().forbidden_names["open"],
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


# ----------------------------------------------------------------- the rules
@pytest.mark.parametrize(
    "source",
    [
        "cursor.execute(q)\ncursor.executemany(q, rows)\n",
        "photos.append(1)\n",
        "def retrieval (x):\n    return x\nretrieval (1)\n",
        "os_version = 1\nevaluation = 2\nsubprocess_count = 3\nopen_access = 4\n",
        "title = 'Open Access'\nsql = \"SELECT * FROM t WHERE open = 1 AND exec('x')\"\n",
        "x.is_open()\nx.open\nconn.open()\n",
        "import urllib.request\nurllib.request.urlopen('https://x')\n",
        "import re\nre.compile('x')\n",
        "import sys\nsys.stdout.write('x')\nsys.argv[1:]\nsys.exit(0)\nsys.stderr.flush()\n",
        "getattr(row, 'title', '')\nhasattr(row, '__class__')\nsetattr(row, 'seen', True)\n",
        "row._asdict()\nself._cache = {}\n",
        "class A(B):\n    def __init__(self):\n        super().__init__()\n    def __repr__(self):\n        return type(self).__name__\n",
        "if __name__ == '__main__':\n    print(__file__, __doc__)\n",
        "# exec( eval( open( os. subprocess.\n'''os.system(\"x\")'''\n",
        "from sniplets import marc21\nmarc21._leader(1, 2)\nfrom sniplets.marc21 import _helper\n",
        "from queries.abccorp import mytask_xml as mainquery\ncursor.execute(mainquery.query)\n",
        "import io\nbuf = io.StringIO()\nio.TextIOWrapper(sys.stdout.buffer, encoding='utf-8')\n",
        "import codecs\ncodecs.getwriter('utf-8')\n",
        "import gzip\ngzip.compress(b'x')\n",
        "import xml.etree.ElementTree as ET\nET.fromstring('<a/>')\nET.tostring(ET.Element('a'))\n",
        "from typing import Literal\nKind = Literal['open', 'eval']\ndef f(x: Literal['exec']) -> 'Book':\n    pass\n",
        "'{0.title} {1[open]}'.format(row, d)\nf'{row.title!r}'\n",
        "from operator import attrgetter, itemgetter\nattrgetter('year', 'title.name')\n",
        "ｔｉｔｌｅ = 1\n",
        "compiled = 1\nevaluated = 2\nexecuted = 3\nopened = 4\n",
        "import json\njson.dump(x, sys.stdout, default=str)\n",
        "from tinyhtml import *\nprint(h('p')('x').render())\n",
        "match row:\n    case {'open': True, **rest}:\n        pass\n    case [first, *others]:\n        pass\n",
        "global_count = 0\ndef f():\n    global global_count\n    global_count += 1\n",
        "try:\n    import ujson as json\nexcept ImportError:\n    json = None\n",
    ],
)
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
    # the use comes before the import in the text: aliases are whole-script
    src = "def f():\n    return x.open('/etc/passwd')\n\nimport io as x\n"
    assert labels(src) == ["x.open() at 2:11"]


def test_every_finding_has_a_rule_with_a_reason():
    for path in REFUSED:
        for f in check_source(read(path)).findings:
            assert f.rule and f.reason and f.label and f.code or f.rule == "internal-error"


def test_visitor_rules_are_documented():
    rules = [name for name in vars(GuardVisitor) if name.startswith("rule_")]
    assert len(rules) >= 10
    for name in rules:
        assert getattr(GuardVisitor, name).__doc__, name


@pytest.mark.parametrize("path", REFUSED + ACCEPTED, ids=lambda p: p.stem)
def test_fast_walk_equals_libcst_traversal(path):
    """The read-only walker sees exactly what libcst's own visit sees."""
    module = cst.parse_module(read(path))
    fast, slow = GuardVisitor(default_policy()), GuardVisitor(default_policy())
    walk(module, fast)
    module.visit(slow)
    a = [(p.rule, p.label) for p in fast.finish()]
    b = [(p.rule, p.label) for p in slow.finish()]
    assert a == b


# ----------------------------------------------------------------- the policy
def test_policy_file_extends_the_default(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({
        "description": "no network",
        "forbidden_names": ["input"],
        "forbidden_modules": {"socket": "no network"},
        "module_members": {"urllib.request": ["urlopen"]},
        "forbidden_attributes": ["raw_bytes"],
    }))
    policy = load_policy(path)
    assert "open" in policy.forbidden_names and "input" in policy.forbidden_names
    assert policy.forbidden_modules["socket"] == "no network"
    assert "open" in policy.module_members["io"]
    src = "import urllib.request\nurllib.request.urlopen('file:///etc/passwd')\n"
    assert check_source(src).ok
    (f,) = check_source(src, policy=policy).findings
    assert f.rule == "module-member" and f.label == "urllib.request.urlopen()" and str(path) in f.reason
    assert labels("import socket\n", policy) == ["import socket at 1:0"]
    assert labels("x = input()\n", policy) == ["input() at 1:4"]
    assert labels("y.raw_bytes\n", policy) == [".raw_bytes at 1:2"]
    assert default_policy().forbidden_names.get("input") is None  # the default is untouched


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"forbiden_names": ["x"]}', "unknown key"),
        ('{"forbidden_names": "input"}', "expected a list"),
        ('{"forbidden_names": [1]}', "non-empty string"),
        ('{"forbidden_modules": ["not a module"]}', "not a valid dotted name"),
        ('{"module_members": ["x"]}', "module_members must be an object"),
        ('{"trusted_packages": ["os"]}', "cannot be changed"),
    ],
)
def test_bad_policy_files_raise_value_error(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_policy(path)


def test_missing_policy_file_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read guard policy"):
        load_policy(tmp_path / "nope.json")


# ----------------------------------------------------------------- standalone
def test_guard_imports_neither_prefect_nor_memo():
    code = (
        "import sys, guard, guard.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'prefect', 'memo', 'pydantic', 'sqlalchemy', 'docker'})\n"
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
