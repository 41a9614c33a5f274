"""MEMO's tables as SQLAlchemy Core objects, column for column as ``oapen_memo`` has them.

The runner never creates or alters them in production; ``create_schema`` exists
for the embedded demo and the tests, which build a MEMO database of their own.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

homedir = Table(
    "homedir",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255)),
    Column("username", String(45), unique=True, nullable=False),
    Column("password", String(255)),
    Column("is_editable", Boolean, default=True),
    Column("notes", Text),
    Column("access_key", String(32), unique=True),
    Column("updated_at", DateTime),
    Column("updated_by", String(255)),
)

query = Table(
    "query",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), unique=True, nullable=False),
    Column("body", Text),
    Column("params", Text),
    Column("notes", Text),
    Column("is_library", Boolean, default=False),
    Column("updated_at", DateTime),
    Column("updated_by", String(255)),
)

script = Table(
    "script",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("id_query", String(36), ForeignKey("query.id", ondelete="SET NULL")),
    Column("name", String(255), unique=True, nullable=False),
    Column("type", Enum("MAIN", "SNIP", name="script_type", native_enum=True, create_constraint=False)),
    Column("body", Text),
    Column("params", Text),
    Column("notes", Text),
    Column("updated_at", DateTime),
    Column("updated_by", String(255)),
)

task = Table(
    "task",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("id_homedir", String(36), ForeignKey("homedir.id"), nullable=False),
    Column("id_script", String(36), ForeignKey("script.id", ondelete="SET NULL")),
    Column("file_name", String(100), nullable=False),
    Column("extension", String(32)),
    Column("description", Text),
    Column("start_date", Date, nullable=False),
    # create_constraint=False: MEMO's enum is MySQL's own; on SQLite a bad value must be
    # storable so the runner's handling of a malformed row can be tested.
    Column("frequency", Enum("D", "W", "M", "Y", name="task_frequency", create_constraint=False)),
    Column("is_active", Boolean, default=True),
    Column("is_public", SmallInteger),
    Column("notes", Text),
    Column("updated_at", DateTime),
    Column("updated_by", String(255)),
    UniqueConstraint("id_homedir", "file_name"),
)

runlog = Table(
    "runlog",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("id_task", String(36), ForeignKey("task.id", ondelete="CASCADE")),
    Column("date", DateTime),
    Column("is_success", Boolean),
    Column("message", Text),
)


RUNNER_TABLES = tuple(metadata.tables)
"""MEMO's tables the runner reads and writes (``doctor`` checks they are there)."""


def create_schema(engine: Engine) -> None:
    """Create MEMO's tables (demo and tests only). On MySQL, with MEMO's utf8mb4_bin collation.

    Args:
        engine: the SQLAlchemy engine of the database to create them in (existing tables are kept).
    """
    if engine.dialect.name in ("mysql", "mariadb"):
        for table in metadata.sorted_tables:
            table.kwargs.update(mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")
    metadata.create_all(engine)
