"""The run-time guard, seen from the runner: the launcher's command, its policy, its verdict.

The launcher (``guard/launcher.py``) runs inside the script's container with the
image's python3; this module is its other half, on the runner's side:

- ``runtime_policy(policy)``: what the launcher enforces, as JSON-able data
  derived from the static policy (one policy, two layers);
- ``launcher_command(...)``: the command line that runs ``main.py`` under it;
- ``parse_refusal(stderr)``: the refusal the launcher reported, if it did.

Like the rest of ``guard/``, nothing here imports the runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from .policy import Policy

__all__ = [
    "EXIT_REFUSED", "EXIT_UNAVAILABLE", "LAUNCHER", "RuntimeRefusal", "launcher_command", "parse_refusal",
    "parse_unavailable", "runtime_policy", "runtime_refusal_message",
]

LAUNCHER = Path(__file__).with_name("launcher.py")
"""The launcher's source file, bind-mounted read-only into containers."""
EXIT_REFUSED = 77
"""The launcher's exit status for a refused event (``launcher.EXIT_REFUSED``)."""
MARKER = "memo-guard: refused"
LIBRARY_MARKER = "memo-guard: refused in a library"
EXIT_UNAVAILABLE = 78
"""The launcher's exit status when it cannot set itself up in the image (no ctypes, no seccomp)."""
UNAVAILABLE_MARKER = "memo-guard: unavailable"

READ_ROOTS = (
    # the time zone database (zoneinfo)
    "/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo", "/etc/zoneinfo",
    "/etc/localtime", "/etc/timezone",
    # what the system is (platform, mysql.connector's connection attributes at connect)
    "/etc/os-release", "/usr/lib/os-release", "/etc/lsb-release",
    # file types (mimetypes, urllib)
    "/etc/mime.types",
)
"""Files and folders outside the tree and the Python installation that libraries read on a
script's behalf; none holds anything of the runner's."""


EXTENSION_MODULES = (
    # The native modules the standard library loads for what report scripts do (in many
    # images most are built into the interpreter and never loaded at all).
    "_asyncio", "_bisect", "_blake2", "_bz2", "_codecs_cn", "_codecs_hk", "_codecs_iso2022", "_codecs_jp",
    "_codecs_kr", "_codecs_tw", "_contextvars", "_csv", "_datetime", "_decimal", "_elementtree", "_hashlib",
    "_heapq", "_json", "_lzma", "_md5", "_multibytecodec", "_opcode", "_pickle", "_queue", "_random",
    "_sha1", "_sha2", "_sha256", "_sha3", "_sha512", "_socket", "_ssl", "_statistics", "_struct",
    "_typing", "_uuid", "_zoneinfo", "array", "binascii", "cmath", "fcntl", "grp", "math", "pwd",
    "pyexpat", "select", "unicodedata", "zlib",
)
"""Native (extension) modules anyone may load; the rest (readline, _sqlite3, _dbm, _ctypes, _curses,
mmap, ...) read, write or reach memory in C, where no audit event sees it."""


def runtime_policy(policy: Policy) -> dict | None:
    """What the launcher enforces for this policy; ``None`` when nothing is enforced.

    Args:
        policy: the static guard's policy (``Policy.enforce`` false: tests of the
            container alone, which then runs ``python3 main.py`` plainly).

    Returns:
        ``{"modules": [...], "read": [...], "extensions": [...]}``: the modules the
        script's own files may import, the folders beyond the tree and the Python
        installation it may read, and the native modules anyone may load.
    """
    if not policy.enforce:
        return None
    return {"modules": sorted(policy.importable_modules()), "read": list(READ_ROOTS),
            "extensions": sorted(set(EXTENSION_MODULES) | set(policy.native_modules))}


def launcher_command(python: str, launcher: str, policy: Mapping, tree: str, entry: str,
                     stdout_file: str | None = None, nonce: str = "") -> list[str]:
    """The command that runs ``entry`` of ``tree`` under the launcher.

    ``-I``: isolated (no PYTHON* variables, no user site, no script folder on the
    path); ``-B``: no bytecode written. ``nonce``: the run's secret, which the
    launcher's refusal lines carry (``parse_refusal`` checks it: a script could print
    such a line, but not guess the nonce).

    Args:
        python: the interpreter that runs the launcher (the image's ``python3``, or the process sandbox's).
        launcher: the launcher's path where the command runs (``LAUNCHER``, or its mount).
        policy: what the launcher enforces (``runtime_policy``'s result).
        tree: the script tree's folder where the command runs.
        entry: the script to run, relative to ``tree`` (``main.py``).
        stdout_file: where the launcher sends the script's stdout; ``None``: its own stdout.
        nonce: the run's secret for the refusal lines; "" sends none.

    Returns:
        The argument list, ``python`` first.

    Raises:
        ValueError: an item of ``policy`` holds a separator (``encode_policy``).
    """
    command = [python, "-I", "-B", launcher, "--policy", encode_policy(policy), "--tree", tree]
    if nonce:
        command += ["--nonce", nonce]
    if stdout_file:
        command += ["--stdout-file", stdout_file]
    return command + [entry]


def encode_policy(policy: Mapping) -> str:
    """The policy as the launcher's one argument (``launcher.decode_policy`` reads it back).

    Raises:
        ValueError: an item holds a separator or a NUL (never so for module names and paths
            of ours; a clear error rather than a policy read wrongly).
    """
    records = []
    for key, value in policy.items():
        if key == "kernel_filter":
            records.append(f"kernel_filter={'1' if value else '0'}")
            continue
        items = [str(v) for v in value]
        if any(ch in item for item in items for ch in "\x1e\x1f\x00=") or any(ch in key for ch in "\x1e\x1f=\x00"):
            raise ValueError(f"run-time policy {key!r}: an item holds a separator")
        records.append(key + "=" + "\x1f".join(items))
    return "\x1e".join(records)


@dataclass(frozen=True)
class RuntimeRefusal:
    """One event the launcher refused: ``file`` is relative to the tree ("" when outside it)."""

    event: str
    file: str
    line: int
    what: str

    def summary(self) -> str:
        return f"{self.what} at {self.line}" if self.file else self.what


def parse_refusal(exit_code: int | None, stderr: str, nonce: str = "") -> RuntimeRefusal | None:
    """The launcher's refusal behind a run's exit status and stderr tail, or ``None``.

    Exit 77 with the launcher's line last: the script itself did something refused
    and was stopped. Any other failing exit whose last line is the launcher's error
    (``PermissionError: memo-guard refused: ...``): a library the script called was
    refused and the script died of it; its ``refused in a library`` line says what.
    A run that failed of something else, or handled the error (mysql.connector's
    ``lsb_release`` probe at every connect), was not refused. A line without the
    run's ``nonce`` is not the launcher's: a script cannot forge a refusal.

    Args:
        exit_code: the script's exit status (``None``: it has none, e.g. killed).
        stderr: the tail of the run's stderr.
        nonce: the run's secret, as given to ``launcher_command``.

    Returns:
        The refused event (its file, line and what), or ``None`` when the run was not refused.
    """
    lines = stderr.rstrip().splitlines()
    if exit_code == EXIT_REFUSED:
        marker = MARKER + "\t"
    elif exit_code and lines and "memo-guard refused: " in lines[-1]:
        marker = LIBRARY_MARKER + "\t"  # the script died of the error the library got
    else:
        return None
    for line in reversed(lines):
        if line.startswith(marker):
            parts = line.split("\t", 5)
            if len(parts) == 6 and parts[1] == nonce:
                _, _, event, file, number, what = parts
                try:
                    return RuntimeRefusal(event, file, int(number), what)
                except ValueError:
                    return None
    return None


def parse_unavailable(exit_code: int | None, stderr: str, nonce: str = "") -> str | None:
    """Why the launcher could not set itself up (the image, not the script), or ``None``.

    Args:
        exit_code: the script's exit status (``None``: it has none).
        stderr: the tail of the run's stderr.
        nonce: the run's secret, as given to ``launcher_command``: a line without it was
            written by the script (which may exit 78 too), not by the launcher.

    Returns:
        The launcher's reason (its ``memo-guard: unavailable`` line, after the nonce), or ``None``
        when the exit status is not ``EXIT_UNAVAILABLE`` or no such line of the launcher is there.
    """
    if exit_code != EXIT_UNAVAILABLE:
        return None
    for line in reversed(stderr.rstrip().splitlines()):
        if line.startswith(UNAVAILABLE_MARKER + "\t"):
            parts = line.split("\t", 2)
            if len(parts) == 3 and parts[1] == nonce:
                return parts[2]
    return None


def runtime_refusal_message(refusals: Iterable[tuple[str, RuntimeRefusal]]) -> str:
    """MEMO's message: ``Illegal instructions found at run time: {name=[what at line]}``.

    Args:
        refusals: ``(script name, refusal)`` pairs; a name's refusals are listed together, in order.

    Returns:
        The message, one ``name=[...]`` per script.
    """
    by_name: dict[str, list[str]] = {}
    for name, refusal in refusals:
        by_name.setdefault(name, []).append(refusal.summary())
    inner = ", ".join(f"{name}=[{', '.join(items)}]" for name, items in by_name.items())
    return f"Illegal instructions found at run time: {{{inner}}}"
