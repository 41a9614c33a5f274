"""MEMO's Code Guard: refuses scripts that use exec, eval, open, os. or
subprocess. — or any route to them — before anything runs.

Default-deny, as RestrictedPython's transformer: a script may use only the
modules, members and builtins on the allow-list (``guard.policy``); attribute
names starting with ``_``, encodings other than UTF-8 and syntax the visitor
does not handle are refused.

Standalone on purpose: it imports libcst and the standard library only (no
Prefect, no ``memo``), so ``import guard`` costs libcst's import time.

    >>> from guard import check_source, refusal_message
    >>> report = check_source("import os\\n", "abccorp:mytask_xml")
    >>> refusal_message([report])
    'Illegal instructions found: {abccorp:mytask_xml=[import os at 1:0]}'

Lines are 1-based and columns 0-based (characters), as in ``ast``.
"""

from .check import check_source, check_sources
from .policy import Policy, default_policy, load_policy
from .report import Finding, GuardReport, refusal_message

__all__ = [
    "Finding",
    "GuardReport",
    "Policy",
    "check_source",
    "check_sources",
    "default_policy",
    "load_policy",
    "refusal_message",
]
