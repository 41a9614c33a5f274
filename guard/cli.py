"""``memo-taskrunner guard PATH... [--json] [--policy FILE]``.

Checks Python files the way the runner checks a task's scripts, so that MEMO
Manager or a pre-commit hook can refuse a script before it is saved.

Exit status: 0 every file is clean; 1 illegal instructions found; 2 a file
could not be read, is not UTF-8 or is not Python (a syntax error, reported
with its position), or the policy file is invalid.  The worst status wins.

Text output: the refusal summary (``Illegal instructions found: {...}``) on
stdout, followed by one line per finding with its rule and reason; problems
reading files go to stderr.  ``--json`` prints a JSON list on stdout instead,
one object per file: ``{"path", "name", "ok", "findings": [{"rule", "line",
"column", "code", "label", "reason"}], "syntax_error", "error"}``.

The policy is the default one, extended by ``--policy FILE``; see
:func:`guard.policy.load_policy`. ``memo-taskrunner guard`` passes the runner's
``guard_policy`` setting (``MEMO_GUARD_POLICY``) as ``--policy`` when none is given:
the settings are read in one place, ``memo.settings``, never here.

Also runnable as ``python -m guard.cli``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .check import check_source
from .policy import Policy, default_policy, load_policy
from .report import GuardReport, refusal_message

__all__ = ["main"]

EXIT_CLEAN, EXIT_ILLEGAL, EXIT_UNREADABLE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memo-taskrunner guard",
        description="Check MEMO scripts against the Code Guard's allow-list (exec, eval, open, os., "
        "subprocess. and every route to them are refused). Exit 0 clean, 1 illegal instructions, "
        "2 unreadable or not Python.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="Python files, or folders to search for *.py")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument(
        "--policy",
        metavar="FILE",
        help="JSON file extending the default allow-list (memo-taskrunner guard: the guard_policy setting)",
    )
    return p


def _files(paths: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*.py") if p.is_file()))
        else:
            out.append(path)
    return out


def _policy(option: str | None) -> Policy:
    return load_policy(option) if option else default_policy()


def main(argv: list[str] | None = None) -> int:
    """Run the guard on files; return the exit status (see the module doc).

    Args:
        argv: the command's arguments (``PATH... [--json] [--policy FILE]``); ``None``: ``sys.argv[1:]``.

    Returns:
        0 every file clean, 1 illegal instructions found, 2 a file unreadable, not UTF-8 or not
        Python, or the policy file invalid (the worst wins).

    Raises:
        SystemExit: from argparse, for ``--help`` or arguments it cannot parse.
    """
    args = _parser().parse_args(argv)
    try:
        policy = _policy(args.policy)
    except ValueError as exc:
        print(f"guard: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE

    status = EXIT_CLEAN
    results: list[dict] = []
    reports: list[GuardReport] = []
    for path in _files(args.paths):
        entry: dict = {"path": str(path), "name": str(path), "ok": False, "findings": [],
                       "syntax_error": None, "error": None}
        try:
            source = path.read_bytes().decode("utf-8-sig")
        except OSError as exc:
            entry["error"] = f"cannot read: {exc.strerror or exc}"
        except UnicodeDecodeError as exc:
            entry["error"] = f"not UTF-8: byte {exc.start} ({exc.reason})"
        if entry["error"] is not None:
            status = EXIT_UNREADABLE
            results.append(entry)
            if not args.json:
                print(f"guard: {path}: {entry['error']}", file=sys.stderr)
            continue
        report = check_source(source, str(path), policy)
        reports.append(report)
        entry.update(report.to_dict())
        entry["path"] = str(path)
        results.append(entry)
        if report.syntax_error is not None:
            status = EXIT_UNREADABLE
        elif report.findings:
            status = max(status, EXIT_ILLEGAL)

    if args.json:
        json.dump(results, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        message = refusal_message(reports)
        if message:
            print(message)
            for report in reports:
                for f in report.findings:
                    print(f"{report.name}:{f.line}:{f.column}: [{f.rule}] {f.code} — {f.reason}")
        elif status == EXIT_CLEAN:
            print(f"guard: {len(reports)} file(s) clean", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
