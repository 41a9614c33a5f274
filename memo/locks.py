"""Host-wide locks, so that a task never runs twice at once and a night never twice.

``flock`` on files under the work dir: held by whichever process runs the task
(the HTTP app, the nightly flow, a CLI call), released by the kernel if that
process dies, so a crash never leaves a task locked.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from memo.errors import InfrastructureError, TaskBusy

LOCK_DIR = "locks"
POLL_SECONDS = 0.05


@contextmanager
def file_lock(path: Path, *, wait: float | None, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path``; wait up to ``wait`` s (None: forever), then ``TaskBusy``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise InfrastructureError(f"cannot create the lock file {path}: {exc.strerror or exc}") from None
    try:
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TaskBusy(f"{what} is already running") from None
                time.sleep(POLL_SECONDS)
        try:  # the holder's pid, for operators; a full disk must not fail the run
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        yield
    finally:
        os.close(fd)


def task_lock(work_dir: Path, task_id: str, *, wait: float | None = None):
    # Hashed: an id comes from the database or a URL and must never shape a path.
    key = hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return file_lock(Path(work_dir) / LOCK_DIR / f"task-{key}.lock", wait=wait, what=f"task {task_id}")


def night_lock(work_dir: Path, *, wait: float | None = 0):
    """Held by the process running a night; a second runner on the host is refused.

    Args:
        work_dir: the runner's work dir (``MEMO_WORK_DIR``), which holds ``locks/``.
        wait: seconds to wait for the lock (0: refused at once; ``None``: as long as it takes).

    Returns:
        A context manager that holds the lock while its block runs.

    Raises:
        TaskBusy: another process holds the lock after ``wait`` (on entering the block).
        InfrastructureError: the lock file cannot be created (on entering the block).
    """
    return file_lock(Path(work_dir) / LOCK_DIR / "nightly.lock", wait=wait, what="a nightly run on this host")
