"""The MEMO database, through SQLAlchemy Core: read tasks and library items, write ``runlog``.

The only module that speaks SQL. Works on MySQL/MariaDB (pymysql) and SQLite.
Connection failures are retried with backoff and then raised as
``DatabaseUnavailable``; a refused login or a missing privilege is not retried
(it will not heal) and says so.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Callable, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from memo import schema
from memo.errors import DatabaseRefused, DatabaseUnavailable, MemoTablesMissing, TaskInvalid, TaskNotFound
from memo.models import Query, RunOutcome, Script, Task, TaskSpec

log = logging.getLogger("memo.database")

T = TypeVar("T")

# MySQL error codes that retrying will not fix: access denied, command denied, unknown db.
PERMANENT_ERRORS = {1044, 1045, 1142, 1143, 1049, 1146, 1698}
RUNLOG_MESSAGE_LIMIT = 60000
"""``runlog.message`` is TEXT (64 KiB); longer messages are cut, never refused."""


def _error_code(exc: DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _text(value, what: str) -> str | None:
    """Decode a text column; bytes that are not UTF-8 make the row malformed."""
    if value is None or isinstance(value, str):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TaskInvalid(f"{what} is not valid UTF-8 (byte {exc.start})") from None


def _date(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


class MemoDatabase:
    """A connection pool to ``oapen_memo`` and the few statements the runner needs."""

    def __init__(self, url: str, *, retries: int = 3, backoff: float = 1.0, echo: bool = False):
        """Make the pool; nothing connects until the first statement.

        Args:
            url: the SQLAlchemy URL (``MEMO_DATABASE_URL``): ``mysql+pymysql://...`` or ``sqlite:///...``.
            retries: attempts per statement while the database cannot be reached.
            backoff: seconds before the second attempt, doubled after each.
            echo: log every statement (SQLAlchemy's ``echo``).
        """
        self.url = url
        self.retries = retries
        self.backoff = backoff
        kwargs: dict = {"pool_pre_ping": True, "future": True}
        if url.startswith("mysql"):
            kwargs.update(pool_recycle=3600, connect_args={"connect_timeout": 10})
        elif url.startswith("sqlite"):
            kwargs.update(connect_args={"timeout": 30, "check_same_thread": False})
        self.engine = sa.create_engine(url, echo=echo, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    def dispose(self) -> None:
        """Close the pool's connections (at the end of a night, a request, a command)."""
        self.engine.dispose()

    # -- retries ---------------------------------------------------------------

    def _with_retry(self, what: str, action: Callable[[sa.Connection], T], *, write: bool = False) -> T:
        delay = self.backoff
        for attempt in range(1, self.retries + 1):
            try:
                with (self.engine.begin() if write else self.engine.connect()) as conn:
                    return action(conn)
            except (OperationalError, ProgrammingError) as exc:
                code = _error_code(exc)
                reason = str(exc.orig).strip() if exc.orig else str(exc)
                permanent = self._permanent(what, code, reason)
                if permanent is not None:
                    raise permanent from None
                if code in PERMANENT_ERRORS or isinstance(exc, ProgrammingError):
                    raise DatabaseRefused(f"MEMO database refused to {what}: {reason}") from None
                if attempt == self.retries:
                    raise DatabaseUnavailable(
                        f"MEMO database unreachable, could not {what} after {attempt} attempts: {reason}"
                    ) from None
                log.warning("could not %s (attempt %d/%d): %s; retrying in %.1fs",
                            what, attempt, self.retries, reason, delay)
                time.sleep(delay)
                delay *= 2
            except DBAPIError as exc:
                raise DatabaseUnavailable(f"MEMO database error while trying to {what}: {exc.orig}") from None
        raise AssertionError("unreachable")

    def _permanent(self, what: str, code: int | None, reason: str) -> DatabaseRefused | None:
        """The errors no retry can fix that an operator meets first (a fresh clone, a wrong
        URL), said as what they are, with where to look."""
        where = self.where()
        hint = "check MEMO_DATABASE_URL; `memo-taskrunner doctor` checks the database and its tables"
        if code == 1146 or reason.startswith("no such table"):
            return MemoTablesMissing(f"MEMO's tables are missing in {where} (could not {what}: {reason}); {hint}")
        if self.engine.url.get_backend_name() == "sqlite" and "unable to open database file" in reason:
            return DatabaseRefused(f"cannot open the MEMO database {where} (could not {what}: {reason}); {hint}")
        return None

    def where(self) -> str:
        """The database as an operator names it, without credentials: ``host:port/name`` or the SQLite file."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite":
            return f"SQLite file {url.database or ':memory:'}"
        return f"{url.host or 'localhost'}{':%s' % url.port if url.port else ''}/{url.database or ''}"

    # -- reads -----------------------------------------------------------------

    _task_columns = (
        schema.task.c.id,
        schema.homedir.c.username,
        schema.task.c.file_name,
        schema.task.c.frequency,
        schema.task.c.start_date,
        schema.task.c.is_active,
        schema.task.c.id_script,
        schema.task.c.description,
    )

    @staticmethod
    def _task(row) -> Task:
        return Task(
            id=row.id,
            username=row.username,
            file_name=row.file_name,
            frequency=row.frequency,
            start_date=_date(row.start_date),
            is_active=bool(row.is_active),
            script_id=row.id_script,
            description=row.description,
        )

    def candidate_tasks(self, on: dt.date) -> list[Task]:
        """Active tasks started on or before ``on``: selection then applies the frequency rules.

        Args:
            on: the night's date.

        Returns:
            The tasks, by client (``username``) then file name.

        Raises:
            DatabaseUnavailable: the database cannot be reached, after the retries.
            DatabaseRefused: it refuses the login or the statement, or lacks MEMO's tables
                (``MemoTablesMissing``); not retried.
        """
        stmt = (
            sa.select(*self._task_columns)
            .join(schema.homedir, schema.homedir.c.id == schema.task.c.id_homedir)
            .where(schema.task.c.is_active.is_not(False), schema.task.c.start_date <= on)
            .order_by(schema.homedir.c.username, schema.task.c.file_name)
        )
        return self._with_retry("read the tasks", lambda c: [self._task(r) for r in c.execute(stmt)])

    def load_task(self, task_id: str) -> TaskSpec:
        """A task with its MAIN script and own query, or ``TaskNotFound``.

        Args:
            task_id: the ``task.id`` to read.

        Returns:
            The task's row with its MAIN script and that script's own query (each ``None``
            when the row names none, or names one that does not exist).

        Raises:
            TaskNotFound: no task has this id.
            TaskInvalid: the script's or the query's body is not valid UTF-8.
            DatabaseUnavailable: the database cannot be reached, after the retries.
            DatabaseRefused: it refuses the login or the statement, or lacks MEMO's tables
                (``MemoTablesMissing``); not retried.
        """

        def read(conn: sa.Connection) -> TaskSpec:
            row = conn.execute(
                sa.select(*self._task_columns)
                .join(schema.homedir, schema.homedir.c.id == schema.task.c.id_homedir)
                .where(schema.task.c.id == task_id)
            ).first()
            if row is None:
                raise TaskNotFound(f"Task {task_id} not found")
            task = self._task(row)
            script = own_query = None
            if task.script_id:
                script = self._script(conn, schema.script.c.id == task.script_id)
                if script is not None and script.query_id:
                    own_query = self._query(conn, schema.query.c.id == script.query_id)
            return TaskSpec(task=task, script=script, own_query=own_query)

        return self._with_retry(f"read task {task_id}", read)

    def _script(self, conn: sa.Connection, where) -> Script | None:
        row = conn.execute(sa.select(schema.script).where(where)).first()
        if row is None:
            return None
        return Script(
            id=row.id, name=row.name, type=row.type,
            body=_text(row.body, f"script '{row.name}'"), query_id=row.id_query,
        )

    def _query(self, conn: sa.Connection, where) -> Query | None:
        row = conn.execute(sa.select(schema.query).where(where)).first()
        if row is None:
            return None
        return Query(
            id=row.id, name=row.name,
            body=_text(row.body, f"query '{row.name}'"), is_library=bool(row.is_library),
        )

    def library(self) -> "DatabaseLibrary":
        """The library's sniplets and queries, each read on first use and kept (``Runner.library``).

        Returns:
            A new lookup, with its own cache.
        """
        return DatabaseLibrary(self)

    def stored_scripts(self) -> list[tuple[Script, str | None]]:
        """Every MAIN script and sniplet by type then name, each with what makes its row
        unreadable (``None`` if nothing): one bad row must not hide the others (policy review)."""

        def read(conn: sa.Connection) -> list[tuple[Script, str | None]]:
            out = []
            for r in conn.execute(sa.select(schema.script).order_by(schema.script.c.type, schema.script.c.name)):
                try:
                    body, problem = _text(r.body, f"script '{r.name}'"), None
                except TaskInvalid as exc:
                    body, problem = None, exc.message
                out.append((Script(id=r.id, name=r.name, type=r.type, body=body, query_id=r.id_query), problem))
            return out

        return self._with_retry("read the scripts", read)

    # -- writes ----------------------------------------------------------------

    def write_runlog(self, outcome: RunOutcome) -> None:
        """One ``runlog`` row for a non-dry run; retried, then ``DatabaseUnavailable``.

        Args:
            outcome: the run's outcome: its task, start time, success and message (a message
                beyond ``RUNLOG_MESSAGE_LIMIT`` characters is cut, never refused).

        Raises:
            DatabaseUnavailable: the database cannot be reached, after the retries.
            DatabaseRefused: it refuses the login or the insert (a missing privilege); not retried.
        """
        message = outcome.message
        if len(message) > RUNLOG_MESSAGE_LIMIT:
            message = message[: RUNLOG_MESSAGE_LIMIT - 20] + " …[cut]"
        stmt = schema.runlog.insert().values(
            id_task=outcome.task_id,
            date=outcome.started_at.replace(tzinfo=None),
            is_success=outcome.success,
            message=message,
        )
        self._with_retry("write the runlog", lambda c: c.execute(stmt), write=True)

    def ping(self) -> None:
        self._with_retry("connect", lambda c: c.execute(sa.text("SELECT 1")))

    def missing_tables(self) -> list[str]:
        """Which of MEMO's tables (``schema.RUNNER_TABLES``) this database lacks, for ``doctor``.

        Raises:
            DatabaseUnavailable: it cannot be reached or refuses the login.
        """
        def check(conn: sa.Connection) -> list[str]:
            names = set(sa.inspect(conn).get_table_names())
            return [t for t in schema.RUNNER_TABLES if t not in names]
        return self._with_retry("inspect the tables", check)


class DatabaseLibrary:
    """Library items looked up by name, each fetched once per instance (one per night)."""

    def __init__(self, db: MemoDatabase):
        self.db = db
        self._sniplets: dict[str, Script | None] = {}
        self._queries: dict[str, Query | None] = {}

    def sniplet(self, name: str) -> Script | None:
        if name not in self._sniplets:
            where = sa.and_(schema.script.c.name == name, schema.script.c.type == "SNIP")
            self._sniplets[name] = self.db._with_retry(
                f"read sniplet {name}", lambda c: self.db._script(c, where)
            )
        return self._sniplets[name]

    def query(self, name: str) -> Query | None:
        if name not in self._queries:
            self._queries[name] = self.db._with_retry(
                f"read query {name}", lambda c: self.db._query(c, schema.query.c.name == name)
            )
        return self._queries[name]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
