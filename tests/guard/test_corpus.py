"""Every evasion attempt is refused; every realistic report script is accepted."""

from __future__ import annotations

import pytest

from guard import check_source
from tests.guard.conftest import ACCEPTED, REFUSED, body, read
from tests.guard.old_regex_guard import illegal_instructions


def test_corpus_sizes():
    assert len(REFUSED) >= 40
    assert len(ACCEPTED) >= 25


@pytest.mark.parametrize("path", REFUSED, ids=lambda p: p.stem)
def test_evasion_refused(path):
    text = read(path)
    assert text.startswith("# "), "first line names the technique"
    report = check_source(text, path.stem)
    assert report.syntax_error is None, report.syntax_error
    assert not report.ok, f"{path.name} was accepted: {text}"
    for f in report.findings:
        assert f.line >= 2, "the technique comment on line 1 never triggers"
        assert f.reason and f.label and f.rule


@pytest.mark.parametrize("path", ACCEPTED, ids=lambda p: p.stem)
def test_report_script_accepted(path):
    report = check_source(read(path), path.stem)
    assert report.ok, (report.syntax_error, [(f.summary(), f.rule, f.code) for f in report.findings])


def test_old_guard_is_scored_on_the_same_corpus():
    """The old regex guard misses evasions and refuses good scripts (see docs/guard.md)."""
    missed = [p.stem for p in REFUSED if not illegal_instructions(body(p))]
    false_positives = [p.stem for p in ACCEPTED if illegal_instructions(body(p))]
    assert "import_os" not in missed and "from_os_import_system" in missed
    assert "dunder_import_concat" in missed
    assert "sitemap_xml" in false_positives and "comments_and_docstrings" in false_positives
