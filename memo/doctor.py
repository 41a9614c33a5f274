"""``memo-taskrunner doctor``: everything a night needs, checked, with what to do about it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from memo.database import MemoDatabase
from memo.sandbox import make_sandbox
from memo.settings import Settings


def _folder_problems(path: Path, what: str) -> list[str]:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [f"{what} {path} cannot be created: {exc.strerror}"]
    if not os.access(path, os.W_OK | os.X_OK):
        return [f"{what} {path} is not writable by this user"]
    free = shutil.disk_usage(path).free
    if free < 512 * 1024 * 1024:
        return [f"{what} {path} has only {free // (1024 * 1024)} MB free"]
    return []


def collect_problems(settings: Settings) -> dict[str, list[str]]:
    checks: dict[str, list[str]] = {}
    db = MemoDatabase(settings.database_url, retries=1)
    checks["database"] = db.problems()
    db.dispose()
    checks["exports folder"] = _folder_problems(settings.exports_dir, "exports folder")
    checks["work folder"] = _folder_problems(settings.work_dir, "work folder")
    try:
        sandbox = make_sandbox(settings)
        checks[f"sandbox ({settings.sandbox})"] = sandbox.problems()
    except Exception as exc:  # a sandbox that cannot even be built is the finding
        checks[f"sandbox ({settings.sandbox})"] = [str(exc)]
    if settings.guard_policy:
        try:
            from guard import load_policy

            load_policy(settings.guard_policy)
            checks["guard policy"] = []
        except (OSError, ValueError) as exc:
            checks["guard policy"] = [str(exc)]
    return checks


def run_doctor(settings: Settings) -> int:
    checks = collect_problems(settings)
    for name, problems in checks.items():
        if problems:
            for problem in problems:
                print(f"FAIL  {name}: {problem}")
        else:
            print(f"ok    {name}")
    failed = sum(bool(p) for p in checks.values())
    print(f"{len(checks) - failed}/{len(checks)} checks passed", file=sys.stderr)
    return 1 if failed else 0
