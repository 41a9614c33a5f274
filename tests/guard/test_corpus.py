"""Every evasion attempt is refused; every realistic report script is accepted."""

from __future__ import annotations

import pytest

from guard import check_source
from tests.guard.conftest import ACCEPTED, REFUSED, body, read
from tests.guard.old_regex_guard import illegal_instructions

# The routes issue 13 names (each has its corpus file), and the three report
# scripts the deny-list guard wrongly refused.
ISSUE_ROUTES = {
    "enum_bltns", "formatter_get_field", "typing_forward_ref_evaluate", "stdin_buffer_detach",
    "attrgetter_buffer_raw", "argparse_filetype", "mailcap_shell", "pipes_template", "imaplib_stream",
    "mysql_import_object", "pkgutil_resolve_name", "pydoc_locate", "logging_config_resolve", "coding_gbk",
    "coding_unicode_escape", "coding_utf7", "tmp_module_import",
}
ISSUE_ACCEPTED = {"namedtuple_field_os", "parameter_named_open", "iterparse_bytes_blob"}


def test_corpus_sizes():
    assert len(REFUSED) >= 160
    assert len(ACCEPTED) >= 36


def test_the_issues_routes_and_scripts_are_in_the_corpus():
    assert ISSUE_ROUTES <= {p.stem for p in REFUSED}
    assert ISSUE_ACCEPTED <= {p.stem for p in ACCEPTED}


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
        assert f.rule != "internal-error", f.reason


@pytest.mark.parametrize("path", ACCEPTED, ids=lambda p: p.stem)
def test_report_script_accepted(path):
    report = check_source(read(path), path.stem)
    assert report.ok, (report.syntax_error, [(f.summary(), f.rule, f.code) for f in report.findings])


@pytest.mark.parametrize("name", ["coding_gbk", "coding_unicode_escape", "coding_utf7"])
def test_the_encoding_routes_are_refused_for_their_cookie(name):
    """What the guard reads of these files is harmless (a string, a comment):
    only the cookie shows that CPython would run other code."""
    (finding,) = check_source(read(next(p for p in REFUSED if p.stem == name))).findings
    assert finding.rule == "encoding" and finding.line == 2


def test_old_guard_is_scored_on_the_same_corpus():
    """The old regex guard misses evasions and refuses good scripts (see docs/guard.md)."""
    missed = [p.stem for p in REFUSED if not illegal_instructions(body(p))]
    false_positives = [p.stem for p in ACCEPTED if illegal_instructions(body(p))]
    assert "import_os" not in missed and "from_os_import_system" in missed
    assert "dunder_import_concat" in missed and "stdin_buffer_detach" in missed
    assert "sitemap_xml" in false_positives and "comments_and_docstrings" in false_positives
