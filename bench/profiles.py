"""cProfile output as BENCHMARKS.md shows it: the top entries, paths shortened.

Its own module because a section's profile is a report of its own (``Section.profiles``),
apart from its figures. (Not ``profile``: scripts run as ``python bench/X.py`` have
bench/ first on ``sys.path``, and ``cProfile`` imports the standard library's ``profile``.)
"""

from __future__ import annotations

import re

from bench.common import ROOT


def profile_text(profile, limit: int = 15, sort: str = "cumulative", strip: str = str(ROOT) + "/",
                 restrict: str | None = None) -> str:
    """The top entries of a cProfile.Profile (or pstats.Stats), paths shortened; ``restrict``: a
    regular expression the file:function must match."""
    import io
    import pstats

    buf = io.StringIO()
    if isinstance(profile, pstats.Stats):
        stats = profile
        stats.stream = buf
    else:
        stats = pstats.Stats(profile, stream=buf)
    stats.sort_stats(sort)
    if restrict:
        stats.print_stats(restrict, limit)
    else:
        stats.print_stats(limit)
    text = buf.getvalue()
    text = re.sub(r"[^\s(]*/site-packages/", "", text)
    text = re.sub(r"[^\s(]*/lib/python3\.\d+/", "", text)
    text = text.replace(strip, "")
    lines = [line.rstrip() for line in text.splitlines()]
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    head = [line for line in lines[:start] if "function calls" in line]
    if restrict:
        head.append(f"(only entries matching {restrict!r})")
    return "\n".join(head + lines[start:]).strip()
