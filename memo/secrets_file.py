"""The runner's secrets, generated once into a root-only env file (``memo-taskrunner setup-secrets``).

The Prefect server requires ``PREFECT_SERVER_API_AUTH_STRING`` (HTTP basic auth); its
clients - the worker, ``serve``, ``prefect deploy`` and the flows' own API calls - send
``PREFECT_API_AUTH_STRING``, the same ``user:password``; MEMO Manager's proxy sends
``MEMO_HTTP_TOKEN``. systemd reads ``EnvironmentFile=`` as root, before ``User=memo``
applies, so the units get the values while neither the memo user nor a script it runs
can read the file. Existing values are never replaced: rotating is editing the file
(docs/prefect.md, "Authentication").
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DIR = Path("/etc/memo-taskrunner")
FILE_NAME = "secrets.env"
AUTH_USER = "memo"

SERVER_AUTH = "PREFECT_SERVER_API_AUTH_STRING"
CLIENT_AUTH = "PREFECT_API_AUTH_STRING"
HTTP_TOKEN = "MEMO_HTTP_TOKEN"
NAMES = (SERVER_AUTH, CLIENT_AUTH, HTTP_TOKEN)

HEADER = """\
# MEMO task runner secrets - root only (0600). Written by `memo-taskrunner setup-secrets`,
# which adds what is missing and never replaces a value. Loaded by deploy/*.service
# (EnvironmentFile=, read as root). Rotate: edit, then restart prefect-server, memo-worker,
# memo-http (docs/prefect.md, "Authentication").
"""


def new_auth_string() -> str:
    """``memo:<random>``, as Prefect's basic auth takes it (the password has no ``:``).

    Returns:
        A new ``user:password`` string, the password 32 random bytes, URL-safe base64.
    """
    return f"{AUTH_USER}:{secrets.token_urlsafe(32)}"


def read_env_file(path: os.PathLike | str) -> dict[str, str]:
    """``KEY=VALUE`` lines as systemd's ``EnvironmentFile=`` reads them (the last one wins)."""
    values: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def missing_values(existing: dict[str, str]) -> dict[str, str]:
    """New values for the names ``existing`` lacks; client and server share one auth string."""
    auth = existing.get(SERVER_AUTH) or existing.get(CLIENT_AUTH) or new_auth_string()
    wanted = {SERVER_AUTH: auth, CLIENT_AUTH: auth, HTTP_TOKEN: secrets.token_urlsafe(32)}
    return {name: value for name, value in wanted.items() if not existing.get(name)}


@dataclass
class SecretsFile:
    """What ``ensure_secrets_file`` did: names only, never values."""

    path: Path
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    tightened: bool = False

    def lines(self) -> list[str]:
        """What ``setup-secrets`` prints: the file, its mode and owner, the names written and kept,
        and what to do next.

        Returns:
            The lines, without newlines.

        Raises:
            OSError: the file cannot be stat'ed (let through).
        """
        info = self.path.stat()
        owner = "root" if info.st_uid == 0 else f"uid {info.st_uid}, not root"
        lines = [f"secrets file: {self.path} (mode {stat.S_IMODE(info.st_mode):04o}, owner {owner})"]
        lines.append(f"  written: {', '.join(self.written) or '(nothing missing)'}")
        if self.kept:
            lines.append(f"  kept:    {', '.join(self.kept)}")
        if self.tightened:
            lines.append("  its mode or owner was wider: now 0600, root's")
        if self.written:
            lines.append(f"  next: MEMO Manager's proxy sends 'Authorization: Bearer <{HTTP_TOKEN}>'; the Prefect UI"
                         f" asks for {SERVER_AUTH}; restart the units (docs/prefect.md)")
        if info.st_uid != 0:
            lines.append("  run this as root in production: the units read the file as root")
        return lines


def ensure_secrets_file(directory: os.PathLike | str = DEFAULT_DIR) -> SecretsFile:
    """Create ``<directory>/secrets.env`` (0600) or add the names it lacks; keep every value.

    Args:
        directory: the folder of the secrets file (created if missing).

    Returns:
        What was done: the file, the names written and kept, whether its mode or owner was tightened.

    Raises:
        OSError: the folder or the file cannot be created, read or written (let through).
        RuntimeError: another process kept creating the file meanwhile.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    for _ in range(2):  # a second pass only if another process created the file meanwhile
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        existing = read_env_file(path) if text else {}
        new = missing_values(existing)
        report = SecretsFile(path, written=list(new), kept=[n for n in NAMES if n not in new])
        if not new:
            report.tightened = _make_root_only(path)
            return report
        body = text or HEADER
        body += "" if body.endswith("\n") else "\n"
        stamp = f"# added {dt.date.today().isoformat()}\n"
        body += stamp + "".join(f"{name}={value}\n" for name, value in new.items())
        try:
            _write_private(path, body, replace=bool(text))
        except FileExistsError:
            continue
        report.tightened = _make_root_only(path)
        return report
    raise RuntimeError(f"{path} keeps changing under us")


def _write_private(path: Path, body: str, *, replace: bool) -> None:
    """Write a 0600 file beside ``path`` and move it into place; a fresh file never replaces one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        if os.geteuid() == 0:
            os.fchown(fd, 0, 0)
        os.write(fd, body.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # FileExistsError if someone made it meanwhile: merge instead
    finally:
        if tmp.exists():
            tmp.unlink()


def _make_root_only(path: Path) -> bool:
    """Mode 0600 (and owner root, when we are root); True if that changed anything."""
    info = path.stat()
    changed = False
    if stat.S_IMODE(info.st_mode) != 0o600:
        os.chmod(path, 0o600)
        changed = True
    if os.geteuid() == 0 and (info.st_uid, info.st_gid) != (0, 0):
        os.chown(path, 0, 0)
        changed = True
    return changed
