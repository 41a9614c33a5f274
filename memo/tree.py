"""The file tree a script runs in: planned as pure data, then written to a fresh folder.

    <run>/main.py                        the MAIN script, unchanged
    <run>/queries/<user>/<module>.py     the task's own query: ``query = "<SQL>"``
    <run>/queries/<name>.py              library queries
    <run>/sniplets/<name>.py             library sniplets

Each run gets an unguessable folder below the work dir, locked for its lifetime
so that a later start can tell a crashed run's tree (lock free) from a live one.
"""

from __future__ import annotations

import ast
import fcntl
import logging
import os
import secrets
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from memo.errors import InfrastructureError, TaskInvalid
from memo.exports import check_path_name
from memo.models import Dependencies, TaskSpec

log = logging.getLogger("memo.tree")

RUN_PREFIX = "run-"
ORPHAN_GRACE_SECONDS = 60
"""A tree with no lock file younger than this may be a run being set up; left alone."""



def render_query_module(name: str, sql: str) -> str:
    """A Python module whose ``query`` is exactly ``sql``, whatever quotes or bytes it holds.

    A readable triple-quoted literal when it round-trips exactly, else ``repr``,
    which is exact for every ``str``. Checked by parsing back, never assumed.
    """
    if "\x00" in sql:
        raise TaskInvalid(f"query '{name}' contains a NUL character")
    header = f"# Query {name!r}, written by memo-taskrunner. The SQL is in `query`, unchanged.\n"
    # No backslash: "\_" would still round-trip but warn as an invalid escape.
    plain = "\\" not in sql and all(c in "\n\t" or c.isprintable() for c in sql)
    for literal in (f'"""{sql}"""', f"'''{sql}'''") if plain else ():
        try:
            if ast.literal_eval(literal) == sql:
                return f"{header}query = {literal}\n"
        except (SyntaxError, ValueError):
            continue
    return f"{header}query = {sql!r}\n"


def _module_path(path: str, what: str) -> str:
    """Each part must stay one plain file name; it need not be importable.

    A task named ``my-report.csv`` has a query module ``my-report_csv`` that no
    script can import, but the Java runner wrote it all the same and its MAIN
    script may not need it: refusing would break a task that works today.
    """
    for part in path.split("/"):
        try:
            check_path_name(part, what)
        except TaskInvalid as exc:
            raise TaskInvalid(f"{what} {path!r} cannot be a file in the script tree: {exc.message}") from None
    return path


def plan_tree(spec: TaskSpec, deps: Dependencies) -> dict[str, str]:
    """Relative path → text of every file in the tree. Pure: no disk, no database."""
    assert spec.script is not None and spec.script.body is not None
    files = {"main.py": spec.script.body}
    packages = set()
    for path, query in deps.queries.items():
        _module_path(path, "query")
        files[f"queries/{path}.py"] = render_query_module(query.name, query.body or "")
        packages.add("queries")
        if "/" in path:
            packages.add("queries/" + path.rsplit("/", 1)[0])
    for name, sniplet in deps.sniplets.items():
        _module_path(name, "sniplet")
        files[f"sniplets/{name}.py"] = sniplet.body or ""
        packages.add("sniplets")
    for package in packages:
        files.setdefault(f"{package}/__init__.py", "")
    return files


def source_name(path: str, spec: TaskSpec, deps: Dependencies) -> str:
    """The MEMO name of the tree file at ``path``: ``main.py`` is the MAIN script's name,
    ``sniplets/marc21.py`` the sniplet's, ``queries/x.py`` the query's; "" if none."""
    if path == "main.py" and spec.script is not None:
        return spec.script.name
    stem, _, suffix = path.rpartition(".")
    if suffix == "py" and stem.startswith("sniplets/") and stem[len("sniplets/"):] in deps.sniplets:
        return deps.sniplets[stem[len("sniplets/"):]].name
    if suffix == "py" and stem.startswith("queries/") and stem[len("queries/"):] in deps.queries:
        return deps.queries[stem[len("queries/"):]].name
    return ""


class ScriptTree:
    """A run's folder: created with its files, locked while in use, removed afterwards."""

    def __init__(self, work_dir: Path, files: dict[str, str], *, purge: bool = True):
        self.work_dir = Path(work_dir)
        self.files = files
        self.purge = purge
        self.path: Path | None = None
        self._lock_fd: int | None = None

    def __enter__(self) -> Path:
        try:
            return self._create()
        except OSError as exc:  # a full, read-only or missing work dir: the runner's fault, not the task's
            raise InfrastructureError(
                f"cannot write the script tree in {self.work_dir}: {exc.strerror or exc}"
            ) from None

    def _create(self) -> Path:
        from memo.exports import still_named

        prepare_work_dir(self.work_dir)
        for _ in range(5):
            name = RUN_PREFIX + secrets.token_hex(16)
            lock_path = self.work_dir / f"{name}.lock"
            self._lock_fd = os.open(lock_path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            if still_named(lock_path, self._lock_fd):
                break
            # Another process's clean-up removed it as an orphan between create and lock.
            os.close(self._lock_fd)
            self._lock_fd = None
        else:
            raise OSError(f"the run's lock file in {self.work_dir} was removed as it was made")
        self.path = self.work_dir / name
        try:
            self.path.mkdir(mode=0o755)
            os.chmod(self.path, 0o755)  # readable by the container's non-root user
            for rel, text in self.files.items():
                target = self.path / rel
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
                with open(target, "w", encoding="utf-8", newline="") as handle:
                    handle.write(text)
                os.chmod(target, 0o644)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.path

    def __exit__(self, *exc) -> None:
        if self.path is not None and self.purge:
            shutil.rmtree(self.path, ignore_errors=True)
        if self._lock_fd is not None:
            if self.purge:
                (self.work_dir / f"{self.path.name if self.path else ''}.lock").unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = None


def prepare_work_dir(work_dir: Path) -> None:
    """Create the work dir closed to other users: containers get their tree by bind mount."""
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(work_dir, 0o700)
    except PermissionError:
        pass


def remove_orphan_trees(work_dir: Path) -> int:
    """Remove trees whose run has died (their lock is free). Returns how many."""
    if not work_dir.is_dir():
        return 0
    removed = 0
    for entry in work_dir.iterdir():
        if not entry.name.startswith(RUN_PREFIX) or entry.suffix == ".lock":
            continue
        lock_path = work_dir / f"{entry.name}.lock"
        if not lock_path.exists():
            if time.time() - entry.stat().st_mtime < ORPHAN_GRACE_SECONDS:
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
            continue
        with _try_lock(lock_path) as free:
            if free:
                shutil.rmtree(entry, ignore_errors=True)
                lock_path.unlink(missing_ok=True)
                removed += 1
    for lock_path in work_dir.glob(f"{RUN_PREFIX}*.lock"):
        if not (work_dir / lock_path.stem).exists():
            with _try_lock(lock_path) as free:
                if free:
                    lock_path.unlink(missing_ok=True)
    if removed:
        log.warning("removed %d script tree(s) left by a crashed run in %s", removed, work_dir)
    return removed


@contextmanager
def _try_lock(path: Path) -> Iterator[bool]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        yield False
        return
    try:
        yield True
    finally:
        os.close(fd)
