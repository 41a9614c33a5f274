"""Default-deny on syntax (node types the visitor does not handle) and on
the source's encoding (a cookie other than UTF-8)."""

from __future__ import annotations

import inspect

import libcst as cst
import pytest

from guard import check_source, default_policy
from guard.visitor import _HANDLED_FIELDS, _PLAIN, _TRIVIA, GuardVisitor, walk

# Node types of libcst 1.9 the guard refuses: syntax newer than the runner's
# Python 3.11 (type aliases and parameters, template strings, lazy imports,
# unpacking in dict comprehensions).
REFUSED_NODE_TYPES = {
    "TypeAlias", "TypeParameters", "TypeParam", "TypeVar", "TypeVarTuple", "ParamSpec", "TemplatedString",
    "TemplatedStringExpression", "TemplatedStringText", "LazyImport", "LazyImportFrom", "StarredDictComp",
}
# Handled inside the node that owns them, never walked on their own.
INLINE_NODE_TYPES = {
    "AsName", "AssignTarget", "CompFor", "CompIf", "ImportAlias", "NameItem", "Param", "ParamSlash", "ParamStar",
    "Parameters", "WithItem",
}


def _node_types() -> set[str]:
    return {
        name for name, value in vars(cst).items()
        if inspect.isclass(value) and issubclass(value, cst.CSTNode) and not inspect.isabstract(value)
        and value.__module__.startswith("libcst._nodes")
    }


def test_every_node_type_is_reviewed():
    """Each libcst node type is handled, walked plainly, trivia, handled by
    its owner, or refused; a libcst upgrade that adds one fails this test
    until someone decides which (until then the guard refuses it)."""
    handled = {name[len("visit_"):] for name in vars(GuardVisitor) if name.startswith("visit_")}
    reviewed = handled | set(_PLAIN) | set(_TRIVIA) | INLINE_NODE_TYPES | REFUSED_NODE_TYPES
    assert _node_types() == reviewed
    assert not REFUSED_NODE_TYPES & (handled | set(_PLAIN) | set(_TRIVIA))
    assert set(_HANDLED_FIELDS) <= handled


def findings_of(source: str) -> list[tuple[str, str]]:
    """Walk libcst's tree directly: these are syntaxes CPython 3.11 cannot parse."""
    visitor = GuardVisitor(default_policy())
    walk(cst.parse_module(source), visitor)
    return [(p.rule, p.label) for p in visitor.finish()]


@pytest.mark.parametrize(
    "source, node",
    [
        ("type Alias = int\n", "TypeAlias"),
        ("def f[T](x: T) -> T:\n    return x\n", "FunctionDef"),
        ("class Box[T]:\n    pass\n", "ClassDef"),
    ],
)
def test_syntax_the_visitor_does_not_handle_is_refused(source, node):
    assert ("unsupported-syntax", node) in findings_of(source)


def test_a_refused_node_is_not_walked_into():
    assert findings_of("type Alias = open\n") == [("unsupported-syntax", "TypeAlias")]


# ------------------------------------------------------------------ encoding cookies
@pytest.mark.parametrize(
    "source",
    [
        "# coding: utf-8\nprint(1)\n",
        "# -*- coding: UTF-8 -*-\nprint(1)\n",
        "#!/usr/bin/env python3\n# vim: set fileencoding=utf8 :\nprint(1)\n",
        "# coding=utf_8\nprint(1)\n",
        "# coding: utf-8-sig\nprint(1)\n",
        "x = 1\n# coding: latin-1\n",  # line 2 counts only after a comment or blank line
        "x = 1  # coding: latin-1\n",  # a comment after code is no cookie
        "\n\n# coding: latin-1\nx = 1\n",  # line 3 is no cookie
    ],
)
def test_utf8_or_no_cookie_is_accepted(source):
    assert check_source(source).ok


@pytest.mark.parametrize(
    "source, line",
    [
        ("# coding: latin-1\nprint(1)\n", 1),
        ("#!/usr/bin/env python3\n# -*- coding: gbk -*-\nprint(1)\n", 2),
        ("\n# coding: unicode_escape\nprint(1)\n", 2),
        ("# vim: set fileencoding=utf-7 :\nprint(1)\n", 1),
        ("\f# coding: cp1252\nprint(1)\n", 1),
        ("# coding: no-such-codec\nprint(1)\n", 1),
    ],
)
def test_any_other_cookie_is_refused(source, line):
    (finding,) = check_source(source).findings
    assert finding.rule == "encoding" and finding.line == line and "UTF-8" in finding.reason


def test_a_cookie_is_refused_whatever_else_the_script_holds():
    report = check_source("# coding: latin-1\nimport os\n")
    assert [f.rule for f in report.findings] == ["encoding", "import"]
