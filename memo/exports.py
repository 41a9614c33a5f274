"""The clients' export files: where they go, and replacing them without ever damaging one.

A run streams the script's stdout into ``<exports>/.partial/<random>``, on the same
filesystem as the target, so no partial file ever shows in a client's folder and
the final ``rename`` is atomic. Only a run whose script exits 0 renames its file
over ``<exports>/<username>/<file_name>``; any failure deletes the partial file
and leaves the previous export as it was.

Before the rename, the ``ExportRules`` have their say: the output must be well-formed
for its extension (``memo.export_checks``, fed as it streams) and must not be empty
where a non-empty export exists; the export replaced goes to the history
(``memo.export_history``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from memo import export_history
from memo.errors import ExportWriteError, OutputRefused, TaskInvalid
from memo.export_checks import OutputCheck, check_for

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


@dataclass(frozen=True)
class ExportRules:
    """What an output must be to replace the export (``MEMO_VALIDATE_EXPORTS``,
    ``MEMO_EMPTY_EXPORT``, ``MEMO_EXPORT_HISTORY``, ``MEMO_SHRINK_WARN``). The default: none."""

    check_extensions: frozenset[str] = frozenset()
    empty: Literal["fail", "write"] = "write"
    history: int = 0
    shrink_warn: float = 0.0


class _CheckedFile:
    """The partial file as the sandbox sees it: every chunk written is also fed to the check."""

    def __init__(self, raw, check: OutputCheck):
        self._raw = raw
        self._check = check

    def write(self, data) -> int:
        written = self._raw.write(data)
        self._check.feed(bytes(data))
        return written

    def __getattr__(self, name):
        return getattr(self._raw, name)


class ExportFile:
    """A partial export that becomes the real one only on ``commit()``.

    Used as a context manager: leaving without ``commit()`` (a failed script,
    an exception, an interrupt) deletes the partial file. The partial file is
    locked while open so a later start can remove those left by a crash.

    Args:
        exports_dir: the exports folder (``MEMO_EXPORTS_DIR``), under which the partial file is made.
        target: the client's export the partial file replaces on ``commit()``.
        rules: the checks before the rename, and the history to keep.
        compared_with: the export an empty output must not replace (default ``target``;
            a dry run names the live export, so it says what the real run would do).
        history: the folder of kept versions (None: none kept, as for a dry run).
    """

    def __init__(self, exports_dir: Path, target: Path, rules: ExportRules = ExportRules(),
                 *, compared_with: Path | None = None, history: Path | None = None):
        self.exports_dir = Path(exports_dir)
        self.target = target
        self.rules = rules
        self.compared_with = compared_with or target
        self.history = history if rules.history > 0 else None
        self.check = check_for(target.name, rules.check_extensions)
        self.partial: Path | None = None
        self.file = None
        self.committed = False
        self.previous_size: int | None = None
        """Size of the export this one replaced (None: there was none); set by ``commit()``."""

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
        if self.check is not None:
            self.file = _CheckedFile(self.file, self.check)
        return self

    @property
    def size(self) -> int:
        return os.fstat(self.file.fileno()).st_size if self.file else 0

    def commit(self) -> int:
        """Make the partial file the client's export, atomically. Returns its size in bytes.

        Raises:
            OutputRefused: the output is malformed for its extension, or empty where the
                export is not (the previous export kept).
            ExportWriteError: the file system failed (the previous export kept).
        """
        assert self.file is not None and self.partial is not None
        size = self.size
        self.previous_size = _size_or_none(self.compared_with)
        self._refuse_bad_output(size)
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.target.parent.mkdir(parents=True, exist_ok=True)
            if self.history is not None:
                export_history.keep_version(self.target, self.history)
            os.replace(self.partial, self.target)
            export_history.fsync_dir(self.target.parent)
        except OSError as exc:
            raise ExportWriteError(f"cannot save the export {self.target}: {exc.strerror}") from None
        self.committed = True
        if self.history is not None:
            export_history.trim(self.history, self.rules.history)
        return size

    def _refuse_bad_output(self, size: int) -> None:
        problem = self.check.problem() if self.check is not None else None
        if problem:
            raise OutputRefused(f"{problem}; previous export kept")
        if size == 0 and self.rules.empty == "fail" and self.previous_size:
            raise OutputRefused("script printed nothing; previous export kept")

    def shrink_warning(self, size: int) -> str | None:
        """After ``commit()``: the warning when the export shrank below ``MEMO_SHRINK_WARN``."""
        previous, factor = self.previous_size, self.rules.shrink_warn
        if not previous or factor <= 0 or size >= factor * previous:
            return None
        return (f"export shrank to {size:,} bytes from {previous:,} ({size / previous:.0%} of the one it replaced; "
                f"MEMO_SHRINK_WARN={factor:g})")

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if not self.committed and self.partial is not None:
            self.partial.unlink(missing_ok=True)


def _size_or_none(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def still_named(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not unlinked or replaced meanwhile)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


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
