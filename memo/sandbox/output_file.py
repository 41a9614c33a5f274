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
    """Copy the script's stdout file into the export in CHUNK pieces; a missing file is empty."""
    copied = 0
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return 0
    with f:
        while chunk := f.read(CHUNK):
            write_out(stdout, chunk)
            copied += len(chunk)
    return copied
