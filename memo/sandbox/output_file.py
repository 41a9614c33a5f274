"""``MEMO_CONTAINER_OUTPUT=file``: the script's stdout through one mounted host file.

Instead of the attach stream, one empty host file (in the tree's ``.memo-out/``)
is bind-mounted writable at ``/memo-out/stdout``, the script's fd 1 is pointed at
it, and it is copied to the export after the exit: about 5x faster for outputs of
hundreds of MB on Podman (the engine's attach path is the bottleneck), at the
price of one writable host file. stderr still comes through the attach stream.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import BinaryIO

from memo.errors import OutputRefused
from memo.sandbox.base import CHUNK, write_out

OUT_DIR = ".memo-out"
"""With ``output=file``: the folder, inside the tree on the host, that holds the script's stdout."""
OUT_MOUNT = "/memo-out"
REDIRECT = (
    "import os, sys\n"
    "fd = os.open('/memo-out/stdout', os.O_WRONLY | os.O_TRUNC)\n"
    "os.dup2(fd, 1)\n"
    "os.close(fd)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)
"""With ``output=file``: point fd 1 at the mounted file, then exec the command it wraps."""


def prepare_out_dir(tree: Path, user: str) -> Path:
    """``<tree>/.memo-out/stdout``, an empty file that only the container's user may write."""
    out_dir = tree / OUT_DIR
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(mode=0o755)
    target = out_dir / "stdout"
    target.touch(mode=0o600)
    uid, _, gid = user.partition(":")
    try:
        os.chown(target, int(uid), int(gid or uid))
    except (ValueError, PermissionError):
        # A named user, or a runner that is not root: let anyone write it (the work dir,
        # MEMO_WORK_DIR, keeps other host users out).
        os.chmod(target, 0o666)
    return out_dir


def copy_out(path: Path, stdout: BinaryIO) -> int:
    """Copy the script's stdout file into the export in CHUNK pieces; a missing file is empty.

    Raises:
        OutputRefused: the file has holes: the script extended it (``truncate``, ``seek``)
            rather than wrote it, which costs it nothing and its copy terabytes of the exports'
            disk and hours past the task's timeout.
    """
    copied = 0
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return 0
    with f:
        size = os.fstat(f.fileno()).st_size
        try:
            hole = os.lseek(f.fileno(), 0, os.SEEK_HOLE)  # the end when it has none (or the fs cannot say)
        except OSError:
            hole = size
        finally:
            f.seek(0)
        if hole < size:
            raise OutputRefused(f"the script's output has holes (a file of {size} bytes extended, not written, "
                                f"from byte {hole}): refused, the previous export kept")
        while chunk := f.read(CHUNK):
            write_out(stdout, chunk)
            copied += len(chunk)
    return copied
