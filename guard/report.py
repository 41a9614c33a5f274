"""Findings, per-script reports and the refusal message MEMO users know.

Positions: ``line`` is 1-based, ``column`` is 0-based and counts characters
(code points) from the start of the line — the convention of Python's ``ast``
(``lineno``/``col_offset``) and of libcst, except that ``ast`` counts UTF-8
bytes where the guard counts characters.  Syntax errors use the same
convention.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

__all__ = ["Finding", "GuardReport", "refusal_message"]


@dataclass(frozen=True)
class Finding:
    """One illegal instruction.

    ``rule`` names the rule (see ``docs/guard.md``); ``line``/``column`` give
    where the offending code starts (1-based line, 0-based column); ``code``
    is the offending code, shortened; ``label`` is what the summary shows
    (``open()``, ``import os``, ``__import__()``); ``reason`` says why.
    """

    rule: str
    line: int
    column: int
    code: str
    label: str
    reason: str

    def summary(self) -> str:
        return f"{self.label} at {self.line}:{self.column}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GuardReport:
    """The verdict on one script.

    ``syntax_error`` is ``None`` or ``"<line>:<column>: <message>"``; a script
    with a syntax error is refused.
    """

    name: str
    findings: tuple[Finding, ...] = ()
    syntax_error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings and self.syntax_error is None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data (``memo-taskrunner guard --json``, the policy review).

        Returns:
            ``{"name", "ok", "findings": [Finding.to_dict(), ...], "syntax_error"}``.
        """
        return {
            "name": self.name,
            "ok": self.ok,
            "findings": [f.to_dict() for f in self.findings],
            "syntax_error": self.syntax_error,
        }


def refusal_message(reports: Iterable[GuardReport]) -> str | None:
    """The message that refuses a run, or ``None`` if every report is ok.

    Illegal instructions keep the old runner's summary (a Java map printed),
    with positions added::

        Illegal instructions found: {abccorp:mytask_xml=[open() at 12:8, import os at 1:0], marc21=[eval() at 3:4]}

    Syntax errors follow, one per script, separated by ``"; "``::

        Syntax error in abccorp:mytask_xml at 3:5: invalid syntax

    When both occur the two parts are joined with ``"; "``, illegal
    instructions first.

    Args:
        reports: the run's reports, its MAIN script's and its sniplets', in the message's order.

    Returns:
        The message, or ``None`` when every report is ok.
    """
    illegal: list[str] = []
    syntax: list[str] = []
    for report in reports:
        if report.findings:
            items = ", ".join(f.summary() for f in report.findings)
            illegal.append(f"{report.name}=[{items}]")
        if report.syntax_error is not None:
            syntax.append(f"Syntax error in {report.name} at {report.syntax_error}")
    parts: list[str] = []
    if illegal:
        parts.append("Illegal instructions found: {" + ", ".join(illegal) + "}")
    parts.extend(syntax)
    return "; ".join(parts) if parts else None
