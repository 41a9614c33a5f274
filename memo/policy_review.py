"""Every stored script against the guard's policy, before the first night (the switch-over).

``memo-taskrunner guard --database [--json]`` lists, per MAIN script and sniplet in
``oapen_memo``, what the policy refuses and why, so that operators can fix the
scripts or extend the policy (``MEMO_GUARD_POLICY``) before a night refuses them.
Exit 0 when every script passes, 1 when any is refused, 2 when the database cannot
be read.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TextIO

from memo.database import MemoDatabase
from memo.errors import MemoError
from memo.settings import Settings


@dataclass(frozen=True)
class ScriptReview:
    """One stored script's verdict: ``problem`` when its row cannot even be read."""

    name: str
    type: str
    report: object | None  # guard.GuardReport
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.report is not None and self.report.ok

    def to_dict(self) -> dict:
        report = self.report.to_dict() if self.report is not None else {}
        return {"name": self.name, "type": self.type, "ok": self.ok,
                "findings": report.get("findings", []), "syntax_error": report.get("syntax_error"),
                "error": self.problem}


def review_stored_scripts(db: MemoDatabase, policy) -> list[ScriptReview]:
    """Check every MAIN script and sniplet of the database with ``policy``.

    Raises:
        DatabaseError: the scripts could not be read.
    """
    from guard import check_source

    reviews = []
    for script, problem in db.stored_scripts():
        if problem is None and not (script.body or "").strip():
            problem = "the script has no body"
        report = check_source(script.body, name=script.name, policy=policy) if problem is None else None
        reviews.append(ScriptReview(script.name, script.type or "?", report, problem))
    return reviews


def print_reviews(reviews: list[ScriptReview], out: TextIO) -> None:
    """The refused scripts, each with its findings and reasons, then a count."""
    refused = [r for r in reviews if not r.ok]
    for review in refused:
        print(f"{review.name} ({review.type}): refused", file=out)
        if review.problem:
            print(f"  {review.problem}", file=out)
            continue
        if review.report.syntax_error:
            print(f"  syntax error at {review.report.syntax_error}", file=out)
        for f in review.report.findings:
            print(f"  {f.line}:{f.column} [{f.rule}] {f.code} — {f.reason}", file=out)
    mains = sum(r.type == "MAIN" for r in reviews)
    print(f"{len(refused)} of {len(reviews)} stored scripts ({mains} MAIN, {len(reviews) - mains} SNIP) "
          "are refused by the policy" + ("; fix them or extend the policy (MEMO_GUARD_POLICY, docs/guard.md) "
                                         "before the first night" if refused else ""), file=out)


def run_review(settings: Settings, *, as_json: bool = False, out: TextIO | None = None) -> int:
    """The ``guard --database`` command: exit 0 all pass, 1 any refused, 2 unreadable database.

    An invalid policy file or a database that cannot be read is said on stderr (exit 2), not raised.

    Args:
        settings: the settings in force: the database to read, the guard policy to apply.
        as_json: print one JSON object per stored script instead of the refused ones' lines.
        out: where the review goes; ``None``: stdout.

    Returns:
        The command's exit status: 0 every stored script passes, 1 any is refused, 2 the policy
        or the database could not be read.
    """
    out = out or sys.stdout
    from guard import default_policy, load_policy

    try:
        policy = load_policy(settings.guard_policy) if settings.guard_policy else default_policy()
    except (OSError, ValueError) as exc:
        print(f"memo-taskrunner guard: invalid policy: {exc}", file=sys.stderr)
        return 2
    db = MemoDatabase(settings.database_url, retries=1)
    try:
        reviews = review_stored_scripts(db, policy)
    except MemoError as exc:
        print(f"memo-taskrunner guard: {exc.message}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    if as_json:
        json.dump([r.to_dict() for r in reviews], out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        print_reviews(reviews, out)
    return 1 if any(not r.ok for r in reviews) else 0
