"""The contract between the runner and whatever runs a script tree.

A sandbox runs ``python3 main.py`` in a materialised tree and streams the
script's stdout, byte for byte, into a file object the runner owns (the export's
temporary file). stderr never reaches the export: the sandbox keeps its tail for
the runlog and sends its lines to the task's log.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Mapping, Protocol

from memo.display import without_controls
from memo.errors import ExportWriteError

LIBRARY_NOTE = "memo-guard: refused in a library"
"""``guard.runtime.LIBRARY_MARKER``: how the run-time guard's notes on a library's refused calls begin."""

CHUNK = 1 << 20
"""Bytes moved per read: big enough for throughput, small enough to keep memory flat."""

LOG_LINES = 1000
"""Lines of a script's stderr logged per run (each goes to Prefect's API); the rest are not,
the tail is still kept. A script decides what it writes, not how much of the log it fills."""

LOG_LINE_CHARS = 2000
"""Characters of one stderr line logged; the rest of it is cut (the tail keeps its end)."""

STDERR_TAIL = 2000
"""Characters of a script's stderr kept for its runlog row (``MEMO_STDERR_TAIL``'s default)."""

script_log = logging.getLogger("memo.script")


@dataclass(frozen=True)
class SandboxJob:
    """One script run: where its tree is and how long it may take."""

    tree: Path
    timeout: float
    name: str
    """Unique per run; a container's name, a log label."""
    labels: Mapping[str, str] = field(default_factory=dict)
    entry: str = "main.py"
    runtime_policy: Mapping[str, object] | None = None
    """What the run-time guard (``guard/launcher.py``) enforces around the script
    (``guard.runtime.runtime_policy``); ``None`` runs ``python3 main.py`` bare, which only
    the tests of a sandbox alone do. The runner always passes its policy's."""
    guard_nonce: str = ""
    """The run's secret for the launcher's refusal lines (``guard.runtime.parse_refusal``)."""


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int | None
    timed_out: bool
    stderr_tail: str
    duration: float
    bytes_out: int = 0
    detail: str = ""
    """A sandbox's own explanation of a kill (e.g. ``out of memory``)."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@dataclass
class Check:
    """One thing ``doctor`` checks: what is wrong with it, else what it found."""

    name: str
    problems: list[str] = field(default_factory=list)
    found: str = ""
    """What was checked and seen when it passes, e.g. ``Podman 4.9.3 at unix:///run/podman.sock``."""
    not_checked: str = ""
    """Why it could not be checked: what it needs failed first."""


class Sandbox(Protocol):
    name: str

    def run(self, job: SandboxJob, stdout: BinaryIO) -> SandboxResult:
        """Run the job; write its stdout to ``stdout``.

        Args:
            job: the script run: its tree, timeout, name, run-time policy and nonce.
            stdout: where the script's stdout goes, byte for byte (the export's temporary file).

        Returns:
            How the script ended: its exit status (``None`` when it has none), whether it timed
            out, its stderr's tail, its duration and the bytes it wrote.

        Raises:
            SandboxUnavailable: the script could not be started at all.
            ExportWriteError: writing to ``stdout`` failed (after stopping the script).
        """
        ...

    def checks(self) -> list[Check]:
        """For ``doctor``: each thing this sandbox needs here, checked."""
        ...

    def problems(self) -> list[str]:
        """What stops this sandbox from working here (the checks' problems); empty when fine."""
        ...

    def remove_orphans(self) -> int:
        """Remove what crashed runs left behind; returns how many were removed.

        Returns:
            The number removed (containers; 0 for a sandbox that leaves nothing behind).
        """
        ...


TASK_ID_FIELD = "memo_task_id"
"""The ``LogRecord`` attribute naming the MEMO task a line belongs to (``logging``'s ``extra``):
how the flows send a script's lines, logged from a reader thread, to the task's Prefect run."""


class StderrTail:
    """Keeps the last bytes of a script's stderr and logs its first ``LOG_LINES`` lines (each cut
    at ``LOG_LINE_CHARS``) as they come, each record carrying the job's task id
    (``TASK_ID_FIELD``), its control characters escaped (``memo.display``)."""

    def __init__(self, job: "SandboxJob", limit: int = 4096, logger: logging.Logger = script_log,
                 log_lines: int = LOG_LINES):
        self.label = job.name
        self.limit = limit
        self.logger = logger
        self._extra = {TASK_ID_FIELD: job.labels.get("task-id")}
        self._tail: deque[bytes] = deque()
        self._size = 0
        self._partial = b""
        self._lines_left = log_lines
        self._log_lines = log_lines
        self._lock = threading.Lock()

    def feed(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            self._tail.append(data)
            self._size += len(data)
            while self._size - len(self._tail[0]) >= self.limit:
                self._size -= len(self._tail.popleft())
            lines = (self._partial + data).split(b"\n")
            self._partial = lines.pop()[-self.limit :]
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                self._log(text)

    def _log(self, text: str) -> None:
        if self._lines_left < 0:
            return
        if self._lines_left == 0:  # the first line past LOG_LINES: said once, then no more
            self._lines_left = -1
            self.logger.info("[%s] … stderr lines beyond the first %d are not logged (the runlog keeps the tail)",
                             self.label, self._log_lines, extra=self._extra)
            return
        self._lines_left -= 1
        # the run-time guard's notes on what a library was refused (mysql.connector probes
        # lsb_release at every connect): in the runlog's tail if the run fails, debug in the log
        level = logging.DEBUG if text.startswith(LIBRARY_NOTE) else logging.INFO
        if len(text) > LOG_LINE_CHARS:
            text = text[:LOG_LINE_CHARS] + f" …[{len(text) - LOG_LINE_CHARS} more characters not logged]"
        self.logger.log(level, "[%s] %s", self.label, without_controls(text), extra=self._extra)

    def text(self) -> str:
        with self._lock:
            if self._partial:
                self._log(self._partial.decode("utf-8", "replace"))
                self._partial = b""
            data = b"".join(self._tail)[-self.limit :]
        return without_controls(data.decode("utf-8", "replace").strip(), keep_newlines=True)


def write_out(stdout: BinaryIO, data: bytes) -> None:
    """Write a chunk of script output, turning an OS failure into ``ExportWriteError``."""
    try:
        stdout.write(data)
    except OSError as exc:
        raise ExportWriteError(f"cannot write the export: {exc.strerror or exc}") from exc
