"""Score the new guard and the old five-regex guard on the same corpus.

    .venv/bin/python bench/guard_scores.py

The old guard is scored on each file without its first line (the comment that
names the technique or the near-misses), which would otherwise match its
regexes for the wrong reason; the new guard ignores comments either way.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guard import check_source  # noqa: E402
from tests.guard.conftest import ACCEPTED, REFUSED, body, read  # noqa: E402
from tests.guard.old_regex_guard import illegal_instructions  # noqa: E402


def main() -> None:
    new_caught = [p for p in REFUSED if not check_source(read(p)).ok]
    old_caught = [p for p in REFUSED if illegal_instructions(body(p))]
    new_fp = [p for p in ACCEPTED if not check_source(read(p)).ok]
    old_fp = [p for p in ACCEPTED if illegal_instructions(body(p))]
    print(f"evasion attempts refused : new {len(new_caught)}/{len(REFUSED)}   old {len(old_caught)}/{len(REFUSED)}")
    print(f"report scripts refused   : new {len(new_fp)}/{len(ACCEPTED)}   old {len(old_fp)}/{len(ACCEPTED)}  (false positives)")
    print("\nold guard false positives:")
    for p in old_fp:
        print(f"  {p.stem:28} {illegal_instructions(body(p))}")
    print("\nold guard misses:", ", ".join(sorted(p.stem for p in set(REFUSED) - set(old_caught))))


if __name__ == "__main__":
    main()
