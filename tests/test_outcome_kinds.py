"""One vocabulary of outcome kinds (issue 14): ``memo.errors.OutcomeKind`` says, for every kind,
whether Prefect retries it, which HTTP status answers it and whether a runlog row is written;
every error class carries one, and no other module keeps its own set of kind words."""

from __future__ import annotations

import datetime as dt
import inspect
import re
from pathlib import Path

import pytest

from memo import errors
from memo.errors import OutcomeKind
from memo.models import RunOutcome

ROOT = Path(__file__).resolve().parents[1]
ERROR_CLASSES = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.MemoError)]


def test_every_error_class_carries_a_kind_of_the_vocabulary():
    assert len(ERROR_CLASSES) >= 18
    for cls in ERROR_CLASSES:
        assert isinstance(cls.kind, OutcomeKind), cls
        error = cls("why")
        assert error.retryable is cls.kind.retryable and error.http_status == cls.kind.http_status


@pytest.mark.parametrize("cls", [c for c in ERROR_CLASSES if issubclass(c, errors.InfrastructureError)])
def test_infrastructure_errors_and_only_they_are_retried(cls):
    assert cls("x").retryable
    raised = [c for c in ERROR_CLASSES if c is not errors.DatabaseError]  # a base to catch, never raised
    assert {c for c in raised if c.kind.retryable} == {c for c in raised if issubclass(c, errors.InfrastructureError)}
    for path in ROOT.glob("[mfa]*/**/*.py"):
        assert "raise DatabaseError(" not in path.read_text(), path


def test_a_refusing_database_is_a_database_error_that_is_never_retried():
    for cls in (errors.DatabaseRefused, errors.MemoTablesMissing):
        assert issubclass(cls, errors.DatabaseError) and not issubclass(cls, errors.InfrastructureError)
        assert not cls("x").retryable and cls.kind is OutcomeKind.DATABASE_REFUSED
    assert issubclass(errors.DatabaseUnavailable, errors.DatabaseError) and errors.DatabaseUnavailable("x").retryable


def test_the_http_status_of_each_kind_is_memo_managers():
    status = {kind: kind.http_status for kind in OutcomeKind}
    assert status.pop(OutcomeKind.OK) == 200
    assert status.pop(OutcomeKind.NOT_FOUND) == 404 and status.pop(OutcomeKind.BUSY) == 409
    assert set(status.values()) == {500}


def test_runs_that_never_started_write_no_runlog_row():
    assert {k for k in OutcomeKind if not k.recorded} == {OutcomeKind.NOT_FOUND, OutcomeKind.BUSY,
                                                           OutcomeKind.STOPPING}


def test_a_kind_is_its_word_wherever_it_is_shown():
    outcome = RunOutcome("t", False, "refused", dt.datetime(2024, 1, 1), kind="guard")
    assert outcome.kind is OutcomeKind.GUARD  # a word read back (an artifact) becomes the kind
    assert f"[{outcome.kind}]" == "[guard]" and "%s" % outcome.kind == "guard" and outcome.kind == "guard"
    with pytest.raises(ValueError):
        RunOutcome("t", False, "?", dt.datetime(2024, 1, 1), kind="no-such-kind")


def test_no_other_module_keeps_a_set_of_kind_words():
    """The string sets this vocabulary replaced (models, runner, api, flows) stay gone."""
    words = "|".join(k.value for k in OutcomeKind if k is not OutcomeKind.OK)
    pattern = re.compile(rf"""kind\s*(==|!=|in|not in)\s*[(\[{{]?\s*["']({words})["']""")
    offenders = []
    for folder in ("memo", "flows", "api", "blocks", "cli"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line) or re.search(r"""kind=["'](\w+)["']""", line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_architecture_page_lists_every_kind_as_the_enum_says():
    """docs/architecture.md's table is kept true: each kind's row says its retry, status and runlog."""
    rows = {}
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[3].isdigit():
            rows[cells[0].strip("`")] = cells
    listed = {k for k in OutcomeKind if k.value in rows}
    assert listed == set(OutcomeKind) - {OutcomeKind.ERROR, OutcomeKind.TASK}  # the two bases
    for kind in listed:
        _, _, retried, status, runlog = rows[kind.value]
        assert int(status) == kind.http_status, kind
        assert retried.startswith("yes") == kind.retryable, kind
        assert runlog.startswith("yes") == kind.recorded, kind
