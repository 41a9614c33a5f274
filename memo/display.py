"""Text that MEMO Manager users wrote (a task's names, a script's stderr), made safe to show.

What operators read (the runner's log lines, the journal, Prefect's run names, state messages,
artifacts and logs) must not take a row's or a script's control characters as they are: a
newline starts what looks like a line of the runner's own, ESC sequences rewrite a terminal,
CR hides what came before, NUL is refused by PostgreSQL (a Prefect server's database) and so
fails the call that carried it. Each such character is shown escaped (``\\x1b``, ``\\u202e``).
"""

from __future__ import annotations

import re
import unicodedata

_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
"""C0 and C1 control characters but TAB."""
_CONTROLS_BUT_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAME_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
"""In a name: controls, formats (bidi overrides, zero-width), surrogates, private use,
unassigned, line and paragraph separators."""


_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def without_controls(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with its control characters (C0, C1, DEL; TAB kept) escaped.

    Args:
        text: what a script wrote (a line of its stderr, or the tail of it).
        keep_newlines: keep ``\\n`` (a multi-line tail); otherwise it is escaped too.

    Returns:
        The text, each control character as ``\\xNN`` (``\\n``, ``\\r``); unchanged when it has none.
    """
    pattern = _CONTROLS_BUT_NEWLINE if keep_newlines else _CONTROLS
    return pattern.sub(lambda m: _escape(m.group()), text)


SLASHES = "/\u2215\u2044\uff0f\u29f8\u2571"
"""``/`` and the characters that look like it (division and fraction slash, fullwidth solidus,
big solidus, box-drawing diagonal): none may split a label's two parts to the eye."""


def shown_part(text: str) -> str:
    """One part of a ``<client>/<file>`` label: ``shown_name``, and ``/`` as ``\\x2f``, its
    look-alikes (``SLASHES``) as ``\\uXXXX`` (a username ``victim/report.xml`` or
    ``victim∕report.xml``, refused later, must not name a run as if it were victim's).

    Args:
        text: a username or a file name as stored.

    Returns:
        The part as operators are shown it.
    """
    shown = shown_name(text)
    for slash in SLASHES:
        shown = shown.replace(slash, f"\\u{ord(slash):04x}" if ord(slash) > 0xFF else "\\x2f")
    return shown


def shown_name(text: str) -> str:
    """A name from a row (a client's username, a file name) as operators are shown it: every
    invisible or line-breaking character escaped, so that it cannot pass for another name or
    start a line.

    Args:
        text: the name as stored.

    Returns:
        The name, such characters as ``\\xNN``/``\\uNNNN``; unchanged when it has none.
    """
    if text.isascii() and text.isprintable():
        return text
    return "".join(_escape(c) if unicodedata.category(c) in _NAME_CATEGORIES else c for c in text)
