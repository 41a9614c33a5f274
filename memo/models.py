"""Plain typed records of MEMO's tables, as the core reads them.

Frozen dataclasses, no ORM: the functional core takes and returns these, so it
is testable without a database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from memo.display import shown_part
from memo.errors import OutcomeKind

FREQUENCIES = ("D", "W", "M", "Y")


@dataclass(frozen=True)
class Task:
    """A row of ``task`` joined with its client's ``homedir.username``."""

    id: str
    username: str
    file_name: str
    frequency: str | None
    start_date: dt.date | None
    is_active: bool = True
    script_id: str | None = None
    description: str | None = None

    @property
    def label(self) -> str:
        """How operators name a task: ``<username>/<file_name>``, shown (``memo.display``: a
        name's control and invisible characters and path separators escaped; it names no path)."""
        return f"{shown_part(self.username)}/{shown_part(self.file_name)}"

    @property
    def script_name(self) -> str:
        """The MAIN script's name as MEMO Manager sets it: ``abccorp:mytask_xml``."""
        return main_script_name(self.username, self.file_name)


def main_script_name(username: str, file_name: str) -> str:
    """A task's MAIN script name as MEMO Manager sets it: ``abccorp:mytask_xml``.

    Args:
        username: the task's client (``task.username``).
        file_name: the task's export file name; its first ``.`` becomes ``_``.

    Returns:
        ``<username>:<file_name>``, lower-cased.
    """
    return f"{username}:{file_name.replace('.', '_', 1)}".lower()


@dataclass(frozen=True)
class Script:
    """A row of ``script``: a MAIN script or a library sniplet (``SNIP``)."""

    id: str
    name: str
    type: str
    body: str | None
    query_id: str | None = None


@dataclass(frozen=True)
class Query:
    """A row of ``query``: a task's own SQL or a library query."""

    id: str
    name: str
    body: str | None
    is_library: bool = False


@dataclass(frozen=True)
class TaskSpec:
    """Everything stored for one task: the task, its MAIN script and own query."""

    task: Task
    script: Script | None
    own_query: Query | None


@dataclass(frozen=True)
class Dependencies:
    """The library items a MAIN script needs, resolved to rows, by module path."""

    sniplets: dict[str, Script] = field(default_factory=dict)
    queries: dict[str, Query] = field(default_factory=dict)
    """Keyed by module path below ``queries/``: ``full_text_search`` or ``abccorp/mytask_xml``."""


@dataclass(frozen=True)
class RunOutcome:
    """What one run of one task came to; the runlog row and the HTTP answer derive from it."""

    task_id: str
    success: bool
    message: str
    started_at: dt.datetime
    duration: float = 0.0
    bytes_written: int = 0
    kind: OutcomeKind = OutcomeKind.OK
    dry_run: bool = False
    label: str = ""
    export_path: str | None = None
    previous_bytes: int | None = None
    """Size of the export this run replaced (None: there was none, or the run failed)."""
    warning: str | None = None
    """A successful run's warning: the export shrank (``MEMO_SHRINK_WARN``)."""

    @property
    def change(self) -> str:
        """The export's size against the one it replaced, as the artifacts show it."""
        if not self.success:
            return ""
        if self.previous_bytes is None:
            return "new"
        if self.previous_bytes == 0:
            return "same" if self.bytes_written == 0 else "from empty"
        ratio = self.bytes_written / self.previous_bytes - 1
        return f"{ratio:+.1%}" + (" (shrank)" if self.warning else "")

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", OutcomeKind(self.kind))  # a kind's word given as a str

    @property
    def retryable(self) -> bool:
        """The runner's environment failed (``OutcomeKind.retryable``): Prefect retries it."""
        return self.kind.retryable

    def task_result(self) -> dict:
        """MEMO Manager's TaskResult JSON, field for field as the Java runner sent it.

        Returns:
            ``{"idTask", "message", "dateTime", "output": None, "success"}``.
        """
        return {
            "idTask": self.task_id,
            "message": self.message,
            "dateTime": self.started_at.isoformat(timespec="microseconds"),
            "output": None,
            "success": self.success,
        }
