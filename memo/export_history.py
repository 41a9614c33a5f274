"""The exports a run replaced, kept so that yesterday's can be put back.

``<exports>/.history/<username>/<file_name>/<version>``: outside every client's folder
(nothing is added where a client's harvester looks), on the exports' filesystem, so
keeping a version costs a hard link and no copy. A version is named by the moment its
export was written (``20261202T020001Z``, UTC): names sort by age.

Crash safety comes from the order of the steps. A version is linked into the history
*before* the new export is renamed over the old one (the client's path never goes
missing, as a rename out of the way first would make it), and the oldest versions are
trimmed only after that. A crash between steps leaves, at worst, a version that is also
the current export (the same file, which the listing and the next keep recognise) or
one version too many (the next run trims it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from memo.errors import ExportWriteError, TaskInvalid

HISTORY_DIR = ".history"


@dataclass(frozen=True)
class ExportVersion:
    """One export: the current one or a kept version."""

    version: str
    path: Path
    date: dt.datetime
    bytes: int
    current: bool

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def as_json(self) -> dict:
        """The version as ``memo-taskrunner history --json`` prints it; reads the file for its digest.

        Returns:
            ``{"version", "date" (ISO, seconds), "bytes", "sha256", "current"}``.

        Raises:
            OSError: the file cannot be read (gone since it was listed, permissions); let through.
        """
        return {"version": self.version, "date": self.date.isoformat(timespec="seconds"),
                "bytes": self.bytes, "sha256": self.sha256(), "current": self.current}


def history_dir(exports_dir: Path, username: str, file_name: str) -> Path:
    """Where the kept versions of ``<exports>/<username>/<file_name>`` go (names checked by the caller)."""
    return Path(exports_dir) / HISTORY_DIR / username / file_name


def keep_version(current: Path, folder: Path) -> Path | None:
    """Link the export about to be replaced into its history; None when there is none.

    Raises:
        ExportWriteError: the history cannot be written (the run fails, the export is kept).
    """
    try:
        st = os.stat(current)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ExportWriteError(f"cannot read the export {current}: {exc.strerror}") from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for entry in folder.iterdir():  # kept already (a crash after the link, before the rename)
            if _same_file(entry, st):
                return entry
        target = _free_name(folder, version_name(st.st_mtime))
        os.link(current, target)
    except OSError as exc:
        raise ExportWriteError(f"cannot keep the previous export in {folder}: {exc.strerror}") from None
    return target


def trim(folder: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest versions; returns what went."""
    versions = sorted((p for p in _entries(folder)), key=lambda p: p.name, reverse=True)
    gone = versions[keep:]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def list_versions(current: Path, folder: Path) -> list[ExportVersion]:
    """The current export (if any) and the kept versions, newest first; a kept version that is
    the current file itself (a crash between link and rename) shows once, as current."""
    found: list[ExportVersion] = []
    try:
        cst = os.stat(current)
    except FileNotFoundError:
        cst = None
    if cst is not None:
        found.append(ExportVersion("current", current, _utc(cst.st_mtime), cst.st_size, True))
    for path in sorted(_entries(folder), key=lambda p: p.name, reverse=True):
        st = path.stat()
        if cst is not None and (st.st_dev, st.st_ino) == (cst.st_dev, cst.st_ino):
            continue
        found.append(ExportVersion(path.name, path, _utc(st.st_mtime), st.st_size, False))
    return found


def restore(current: Path, folder: Path, version: str | None) -> ExportVersion:
    """Put a kept version back as the export, atomically; the replaced export is kept.

    Args:
        version: a name from ``list_versions``; None: the newest kept one.

    Returns:
        The version restored (as it was listed).

    Raises:
        TaskInvalid: no such version, or none kept.
        ExportWriteError: the files could not be moved.
    """
    kept = [v for v in list_versions(current, folder) if not v.current]
    if not kept:
        raise TaskInvalid(f"no kept version of {current.name} in {folder}")
    chosen = kept[0] if version is None else next((v for v in kept if v.version == version), None)
    if chosen is None:
        raise TaskInvalid(f"no version {version!r} of {current.name} (kept: {', '.join(v.version for v in kept)})")
    keep_version(current, folder)
    try:
        current.parent.mkdir(parents=True, exist_ok=True)
        os.replace(chosen.path, current)
        fsync_dir(current.parent)
    except OSError as exc:
        raise ExportWriteError(f"cannot put {chosen.path} back as {current}: {exc.strerror}") from None
    return chosen


def version_name(mtime: float) -> str:
    return dt.datetime.fromtimestamp(mtime, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _free_name(folder: Path, name: str) -> Path:
    target, n = folder / name, 1
    while target.exists():
        n += 1
        target = folder / f"{name}-{n}"
    return target


def _entries(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    except FileNotFoundError:
        return []


def _same_file(path: Path, st: os.stat_result) -> bool:
    try:
        other = path.stat()
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


def _utc(mtime: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(mtime, dt.timezone.utc)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (memo.exports uses it too)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
