"""A faithful reimplementation of the old Java runner's guard, for scoring.

Five unanchored regexes searched (Java ``Matcher.find``) anywhere in the raw
script text — comments and strings included — each reported once under its
label.  It is used only to score the old guard on the corpus; never import
it from the runner.
"""

from __future__ import annotations

import re

# (label shown in "Illegal instructions found", pattern) in the old order
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("exec()", re.compile(r"exec *\(")),
    ("eval()", re.compile(r"eval *\(")),
    ("os.", re.compile(r"os *\.")),
    ("subprocess.", re.compile(r"subprocess *\.")),
    ("open()", re.compile(r"open *\(")),
)


def illegal_instructions(source: str) -> list[str]:
    """Labels of the patterns found in ``source`` (empty: accepted)."""
    return [label for label, pattern in PATTERNS if pattern.search(source)]


def refusal_message(scripts: dict[str, str]) -> str | None:
    """The old message: ``Illegal instructions found: {name=[open()]}``."""
    found = {name: illegal_instructions(text) for name, text in scripts.items()}
    found = {name: labels for name, labels in found.items() if labels}
    if not found:
        return None
    return "Illegal instructions found: {" + ", ".join(
        f"{name}=[{', '.join(labels)}]" for name, labels in found.items()
    ) + "}"
