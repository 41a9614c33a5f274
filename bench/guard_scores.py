"""Score the guard, the old five-regex guard (and optionally an earlier guard) on the same corpus.

    .venv/bin/python bench/guard_scores.py [--previous REV]

The old guard is scored on each file without its first line (the comment that
names the technique or the near-misses), which would otherwise match its
regexes for the wrong reason; the guard ignores comments either way.
``--previous REV`` also scores the ``guard`` package as it was at git
revision REV (e.g. the deny-list guard before issue 13), checked in a child
process from a copy of that revision, on the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guard import check_source  # noqa: E402
from tests.guard.conftest import ACCEPTED, REFUSED, body, read  # noqa: E402
from tests.guard.old_regex_guard import illegal_instructions  # noqa: E402

_CHILD = """
import json, sys
from pathlib import Path
from guard import check_source
paths = json.load(sys.stdin)
print(json.dumps([check_source(Path(p).read_text(encoding="utf-8"), Path(p).stem).ok for p in paths]))
"""


def previous_verdicts(rev: str, paths: list[Path]) -> list[bool]:
    """``ok`` of each file under the guard of git revision ``rev``."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "guard"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        env = {**os.environ, "PYTHONPATH": tmp}
        out = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps([str(p) for p in paths]),
                             capture_output=True, text=True, check=True, env=env, cwd=tmp)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--previous", metavar="REV", help="also score the guard of this git revision")
    args = ap.parse_args()
    new_caught = [p for p in REFUSED if not check_source(read(p)).ok]
    old_caught = [p for p in REFUSED if illegal_instructions(body(p))]
    new_fp = [p for p in ACCEPTED if not check_source(read(p)).ok]
    old_fp = [p for p in ACCEPTED if illegal_instructions(body(p))]
    prev = ""
    if args.previous:
        verdicts = dict(zip(REFUSED + ACCEPTED, previous_verdicts(args.previous, REFUSED + ACCEPTED)))
        prev_caught = [p for p in REFUSED if not verdicts[p]]
        prev_fp = [p for p in ACCEPTED if not verdicts[p]]
        prev = f"   {args.previous} {{}}"
        print(f"evasion attempts refused : new {len(new_caught)}/{len(REFUSED)}   old {len(old_caught)}/{len(REFUSED)}"
              + prev.format(f"{len(prev_caught)}/{len(REFUSED)}"))
        print(f"report scripts refused   : new {len(new_fp)}/{len(ACCEPTED)}   old {len(old_fp)}/{len(ACCEPTED)}"
              + prev.format(f"{len(prev_fp)}/{len(ACCEPTED)}") + "  (false positives)")
        print(f"\n{args.previous} accepted:", ", ".join(sorted(p.stem for p in REFUSED if verdicts[p])))
        print(f"{args.previous} refused report scripts:", ", ".join(sorted(p.stem for p in prev_fp)))
    else:
        print(f"evasion attempts refused : new {len(new_caught)}/{len(REFUSED)}   old {len(old_caught)}/{len(REFUSED)}")
        print(f"report scripts refused   : new {len(new_fp)}/{len(ACCEPTED)}   old {len(old_fp)}/{len(ACCEPTED)}"
              "  (false positives)")
    print("\nold guard false positives:")
    for p in old_fp:
        print(f"  {p.stem:28} {illegal_instructions(body(p))}")
    print("\nold guard misses:", ", ".join(sorted(p.stem for p in set(REFUSED) - set(old_caught))))


if __name__ == "__main__":
    main()
