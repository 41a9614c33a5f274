"""How a run ends: one vocabulary of outcome kinds, and the exceptions that carry them.

``OutcomeKind`` is the only list of kinds: the runlog message, the logs, the artifacts,
the HTTP status and Prefect's retries all read a run's kind from it. Each exception below
carries its kind; the kind says whether a retry may help and which HTTP status answers it.

The split that matters: ``InfrastructureError`` is the runner's fault (database
down, container engine gone, disk full) and may be retried; every other
``TaskError`` is the task's own (bad row, refused script, failing script) and a
retry would only fail again. A database that answers but refuses (a login, a
privilege, missing tables) is a ``DatabaseError`` that is not infrastructure:
said at once, never retried.
"""

from enum import Enum


class OutcomeKind(str, Enum):
    """What one run came to. The value is the word logs, artifacts and the CLI show.

    Attributes:
        retryable: the runner's environment failed; Prefect retries the run.
        http_status: the status ``/runtask`` and ``/dryruntask`` answer with.
        recorded: a non-dry run of this kind writes its ``runlog`` row (a run that never
            started for want of the task, its lock or a live process writes none).
    """

    def __new__(cls, value: str, retryable: bool = False, http_status: int = 500, recorded: bool = True):
        member = str.__new__(cls, value)
        member._value_ = value
        member.retryable = retryable
        member.http_status = http_status
        member.recorded = recorded
        return member

    def __str__(self) -> str:
        return self.value

    OK = ("ok", False, 200)
    ERROR = "error"
    CONFIG = "config"
    TASK = "task"
    NOT_FOUND = ("not_found", False, 404, False)
    INVALID = "invalid"
    DEPENDENCY = "dependency"
    GUARD = "guard"
    SCRIPT = "script"
    TIMEOUT = "timeout"
    OUTPUT = "output"
    INFRASTRUCTURE = ("infrastructure", True)
    DATABASE = ("database", True)
    DATABASE_REFUSED = "database_refused"
    SANDBOX = ("sandbox", True)
    EXPORT = ("export", True)
    BUSY = ("busy", False, 409, False)
    STOPPING = ("stopping", False, 500, False)
    STOPPED = "stopped"


class MemoError(Exception):
    """Base of every error the runner reports to a MEMO user; ``kind`` says which.

    Args:
        message: what the MEMO user reads (the runlog row, the HTTP answer, the CLI's line).
    """

    kind: OutcomeKind = OutcomeKind.ERROR

    @property
    def retryable(self) -> bool:
        """The runner's environment failed: the same run may succeed when tried again."""
        return self.kind.retryable

    @property
    def http_status(self) -> int:
        return self.kind.http_status

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConfigError(MemoError):
    kind = OutcomeKind.CONFIG


class TaskError(MemoError):
    """The task itself cannot run as stored; retrying will not help."""

    kind = OutcomeKind.TASK


class TaskNotFound(TaskError):
    kind = OutcomeKind.NOT_FOUND


class TaskInvalid(TaskError):
    """A malformed row: no script, no body, unknown frequency, unsafe name."""

    kind = OutcomeKind.INVALID


class DependencyError(TaskError):
    """A library import names a sniplet or query that does not exist."""

    kind = OutcomeKind.DEPENDENCY


class GuardRefused(TaskError):
    kind = OutcomeKind.GUARD


class ScriptFailed(TaskError):
    """The script ran and exited non-zero, or was killed at its timeout."""

    kind = OutcomeKind.SCRIPT


class OutputRefused(TaskError):
    """The script exited 0 but its output may not replace the export: malformed for its
    extension, or empty where the export is not. The previous export is kept."""

    kind = OutcomeKind.OUTPUT


class ScriptTimeout(ScriptFailed):
    kind = OutcomeKind.TIMEOUT


class InfrastructureError(MemoError):
    """The runner's environment failed; the same task may succeed on retry."""

    kind = OutcomeKind.INFRASTRUCTURE


class DatabaseError(MemoError):
    """The MEMO database failed a read or a write: unreachable (retried) or refusing (not)."""

    kind = OutcomeKind.DATABASE


class DatabaseUnavailable(DatabaseError, InfrastructureError):
    """The database cannot be reached (down, restarting, connection lost): retried."""

    kind = OutcomeKind.DATABASE


class DatabaseRefused(DatabaseError):
    """The database refused the login or a statement (missing privilege, unknown database).

    Permanent: retrying cannot help, so it is not an infrastructure fault to retry.
    """

    kind = OutcomeKind.DATABASE_REFUSED


class MemoTablesMissing(DatabaseRefused):
    """The database answers but does not hold MEMO's tables (a fresh clone's empty SQLite
    file, a URL naming the wrong database): said at once, never retried."""

    kind = OutcomeKind.DATABASE_REFUSED


class SandboxUnavailable(InfrastructureError):
    kind = OutcomeKind.SANDBOX


class ExportWriteError(InfrastructureError):
    """Writing the export failed (disk full, permissions); the old export is kept."""

    kind = OutcomeKind.EXPORT


class TaskBusy(MemoError):
    """Another run of the same task holds its lock."""

    kind = OutcomeKind.BUSY


class RunnerStopping(MemoError):
    """The process is stopping (``memo.stopping``): this run was not started. No runlog row."""

    kind = OutcomeKind.STOPPING


class RunStopped(MemoError):
    """The process stopped while the script ran: it was killed, its export left as it was."""

    kind = OutcomeKind.STOPPED
