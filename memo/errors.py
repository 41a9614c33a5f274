"""Why a task did not run, as exception types the runner maps to a runlog message.

The split that matters: ``InfrastructureError`` is the runner's fault (database
down, container engine gone, disk full) and may be retried; every other
``TaskError`` is the task's own (bad row, refused script, failing script) and a
retry would only fail again.
"""


class MemoError(Exception):
    """Base of every error the runner reports to a MEMO user."""

    kind = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConfigError(MemoError):
    kind = "config"


class TaskError(MemoError):
    """The task itself cannot run as stored; retrying will not help."""

    kind = "task"


class TaskNotFound(TaskError):
    kind = "not_found"


class TaskInvalid(TaskError):
    """A malformed row: no script, no body, unknown frequency, unsafe name."""

    kind = "invalid"


class DependencyError(TaskError):
    """A library import names a sniplet or query that does not exist."""

    kind = "dependency"


class GuardRefused(TaskError):
    kind = "guard"


class ScriptFailed(TaskError):
    """The script ran and exited non-zero, or was killed at its timeout."""

    kind = "script"


class OutputRefused(TaskError):
    """The script exited 0 but its output may not replace the export: malformed for its
    extension, or empty where the export is not. The previous export is kept."""

    kind = "output"


class ScriptTimeout(ScriptFailed):
    kind = "timeout"


class InfrastructureError(MemoError):
    """The runner's environment failed; the same task may succeed on retry."""

    kind = "infrastructure"


class DatabaseUnavailable(InfrastructureError):
    kind = "database"


class DatabaseRefused(DatabaseUnavailable):
    """The database refused the login or a statement (missing privilege, unknown database).

    Permanent: retrying cannot help, so it is not an infrastructure fault to retry.
    """

    kind = "database_refused"


class MemoTablesMissing(DatabaseRefused):
    """The database answers but does not hold MEMO's tables (a fresh clone's empty SQLite
    file, a URL naming the wrong database): said at once, never retried."""

    kind = "database_refused"


class SandboxUnavailable(InfrastructureError):
    kind = "sandbox"


class ExportWriteError(InfrastructureError):
    """Writing the export failed (disk full, permissions); the old export is kept."""

    kind = "export"


class TaskBusy(MemoError):
    """Another run of the same task holds its lock."""

    kind = "busy"


class RunnerStopping(MemoError):
    """The process is stopping (``memo.stopping``): this run was not started. No runlog row."""

    kind = "stopping"


class RunStopped(MemoError):
    """The process stopped while the script ran: it was killed, its export left as it was."""

    kind = "stopped"
