"""Hypothesis: the guard never crashes; it returns findings or a parse error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard import GuardReport, check_source, refusal_message
from tests.guard.conftest import ACCEPTED, REFUSED, read

CORPUS_TEXTS = [read(p) for p in ACCEPTED + REFUSED]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Python-ish alphabet: makes hypothesis reach the parser's deeper states
TOKENS = st.sampled_from(
    ["\n", " ", "    ", "\t", "(", ")", "[", "]", "{", "}", ":", ".", ",", "=", "'", '"', "\\", "#", "@",
     "f'", "b'", "'''", "import ", "from ", " as ", "def ", "class ", "lambda ", "if ", "else", "match ", "case ",
     "os", "sys", "eval", "exec", "open", "__class__", "getattr", "ｅｖａｌ", "x", "1", "*", "**", ":=", "->",
     "\r", "\x0c", "\0", "é", "\ud800", "\ufeff"]
)


def check_invariants(source: str) -> None:
    report = check_source(source, "fuzz")
    assert isinstance(report, GuardReport)
    if report.syntax_error is not None:
        assert report.findings == ()
        line, col, _ = report.syntax_error.split(":", 2)
        assert int(line) >= 0 and int(col) >= 0
    lines = source.count("\n") + source.count("\r") + 1
    for f in report.findings:
        assert 1 <= f.line <= lines and f.column >= 0
        assert f.rule and f.label and f.reason
    message = refusal_message([report])
    assert (message is None) == report.ok


@FAST
@given(st.text())
def test_arbitrary_text(source):
    check_invariants(source)


@FAST
@given(st.lists(TOKENS, max_size=60).map("".join))
def test_python_like_token_soup(source):
    check_invariants(source)


@st.composite
def mutated_corpus(draw):
    text = draw(st.sampled_from(CORPUS_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.one_of(TOKENS, st.text(max_size=5)))
        if op == "insert":
            text = text[:pos] + piece + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)):]
        else:
            text = text[:pos] + piece + text[pos + len(piece):]
    return text


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_corpus())
def test_mutated_corpus_scripts(source):
    check_invariants(source)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([read(p) for p in ACCEPTED]),
       st.sampled_from(["exec('1')", "import os", "e = eval", "__import__('os')", "x = ().__class__",
                        "from subprocess import run", "import sys; sys.modules", "ｏｐｅｎ('x')"]),
       st.booleans())
def test_adding_a_forbidden_line_to_an_accepted_script_refuses_it(script, line, at_end):
    source = script + "\n" + line + "\n" if at_end else line + "\n" + script
    report = check_source(source)
    assert not report.ok and report.syntax_error is None


@pytest.mark.parametrize(
    "source",
    [
        "x = " + "-" * 20000 + "1\n",
        "x = " + "a." * 20000 + "b\n",
        "x = y" + "()" * 20000 + "\n",
        "x = " + "lambda: " * 3000 + "1\n",
        "x = " + "(" * 199 + "eval" + ")" * 199 + "('1')\n",
        "".join("    " * i + "if x:\n" for i in range(99)) + "    " * 99 + "open('x')\n",
        "x = " + "'a' " * 20000 + "\n",
    ],
    ids=["unary", "attributes", "calls", "lambdas", "parentheses", "indentation", "strings"],
)
def test_pathological_nesting_is_refused_or_checked_never_crashes(source):
    report = check_source(source)
    assert isinstance(report, GuardReport)
    if "eval" in source or "open(" in source:
        assert not report.ok
