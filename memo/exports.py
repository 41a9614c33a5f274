"""The clients' export files: where they go, and replacing them without ever damaging one.

A run streams the script's stdout into ``<exports>/.partial/<random>``, on the same
filesystem as the target, so no partial file ever shows in a client's folder and
the final ``rename`` is atomic. Only a run whose script exits 0 renames its file
over ``<exports>/<username>/<file_name>``; any failure deletes the partial file
and leaves the previous export as it was.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import unicodedata
from pathlib import Path

from memo.errors import ExportWriteError, TaskInvalid

log = logging.getLogger("memo.exports")

PARTIAL_DIR = ".partial"
DRY_RUN_DIR = "tmp"
MAX_NAME_BYTES = 200
NAME_MAX = 255
"""The filesystem's limit on one name, in bytes."""


def check_path_name(value: str | None, what: str) -> str:
    """A username or file name that stays one plain entry inside its folder, or ``TaskInvalid``."""
    if value is None or value == "":
        raise TaskInvalid(f"{what} is empty")
    for form in {value, unicodedata.normalize("NFKC", value)}:
        if "\x00" in form:
            raise TaskInvalid(f"{what} {value!r} contains a NUL character")
        if "/" in form or "\\" in form:
            raise TaskInvalid(f"{what} {value!r} contains a path separator")
        if form in (".", "..") or form.startswith("."):
            raise TaskInvalid(f"{what} {value!r} would name a hidden or parent folder")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise TaskInvalid(f"{what} {value!r} contains control characters")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise TaskInvalid(f"{what} is longer than {MAX_NAME_BYTES} bytes")
    return value


def export_target(exports_dir: Path, username: str, file_name: str, *, dry_run: bool) -> Path:
    """``<exports>/<username>/<file_name>``, or ``<exports>/tmp/<username>_<file_name>`` for a dry run."""
    check_path_name(username, "username")
    check_path_name(file_name, "file name")
    if username == DRY_RUN_DIR:
        raise TaskInvalid(f"username '{DRY_RUN_DIR}' is reserved for dry runs")
    if dry_run:
        target = Path(exports_dir) / DRY_RUN_DIR / f"{username}_{file_name}"
        if len(target.name.encode("utf-8")) > NAME_MAX:
            raise TaskInvalid(f"dry-run file name {target.name!r} is longer than {NAME_MAX} bytes")
    else:
        target = Path(exports_dir) / username / file_name
    root = Path(exports_dir).resolve()
    parent = target.parent.resolve()
    if parent != root and root not in parent.parents:
        raise TaskInvalid(f"export folder {target.parent} leads outside {root}")
    return target


class ExportFile:
    """A partial export that becomes the real one only on ``commit()``.

    Used as a context manager: leaving without ``commit()`` (a failed script,
    an exception, an interrupt) deletes the partial file. The partial file is
    locked while open so a later start can remove those left by a crash.
    """

    def __init__(self, exports_dir: Path, target: Path):
        self.exports_dir = Path(exports_dir)
        self.target = target
        self.partial: Path | None = None
        self.file = None
        self.committed = False

    def __enter__(self) -> "ExportFile":
        partial_dir = self.exports_dir / PARTIAL_DIR
        suffix = self.target.name.encode("utf-8")[:120].decode("utf-8", "ignore")  # bytes, not chars
        for _ in range(5):
            try:
                partial_dir.mkdir(parents=True, exist_ok=True)
                self.partial = partial_dir / f"{secrets.token_hex(12)}-{suffix}"
                fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            except OSError as exc:
                raise ExportWriteError(f"cannot create the export in {self.exports_dir}: {exc.strerror}") from None
            fcntl.flock(fd, fcntl.LOCK_EX)
            if still_named(self.partial, fd):
                break
            # Another process's clean-up took it for an orphan between create and lock: a new one.
            os.close(fd)
        else:
            raise ExportWriteError(f"cannot create the export in {self.exports_dir}: removed as it was made")
        self.file = os.fdopen(fd, "wb", buffering=0)
        return self

    @property
    def size(self) -> int:
        return os.fstat(self.file.fileno()).st_size if self.file else 0

    def commit(self) -> int:
        """Make the partial file the client's export, atomically. Returns its size in bytes."""
        assert self.file is not None and self.partial is not None
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            size = self.size
            self.target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.partial, self.target)
            _fsync_dir(self.target.parent)
        except OSError as exc:
            raise ExportWriteError(f"cannot save the export {self.target}: {exc.strerror}") from None
        self.committed = True
        return size

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if not self.committed and self.partial is not None:
            self.partial.unlink(missing_ok=True)


def still_named(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not unlinked or replaced meanwhile)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_orphan_partials(exports_dir: Path) -> int:
    """Delete partial exports whose writer has died (their lock is free)."""
    partial_dir = Path(exports_dir) / PARTIAL_DIR
    if not partial_dir.is_dir():
        return 0
    removed = 0
    for entry in partial_dir.iterdir():
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        else:
            entry.unlink(missing_ok=True)
            removed += 1
        finally:
            os.close(fd)
    if removed:
        log.warning("removed %d partial export(s) left by a crashed run", removed)
    return removed
