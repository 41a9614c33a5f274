"""A MEMO database of the benchmark's own, seeded in bulk: a SQLite file, or a throw-away MariaDB database.

``BenchMemo`` creates MEMO's schema and inserts clients, library items and tasks by the
thousand (``trivial_tasks``); every seeded task is due on ``NIGHT``. MariaDB is
``MEMO_BENCH_MARIADB_URL`` (else ``MEMO_TEST_MARIADB_URL``, else root on 127.0.0.1:3306);
each ``BenchMemo.mariadb()`` gets a ``memo_bench_<hex>`` database of its own, dropped at close.

Its own module because it is the benchmarks' data, apart from the runner's settings
(``bench.runner_settings``) that point at it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import uuid
from pathlib import Path
from typing import Iterable

MARIADB_URL = os.environ.get(
    "MEMO_BENCH_MARIADB_URL", os.environ.get("MEMO_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306")
)
NIGHT = dt.date(2024, 6, 3)
"""The night the benchmarks run (a Monday); every seeded task is due on it."""
EMPTY_NIGHT = dt.date(2023, 6, 1)
"""A night before every task's start: a flow run with nothing due (warm-up)."""
START = dt.date(2024, 1, 1)

TRIVIAL = "print('<record id=\"1\">ok</record>')\n"


class BenchMemo:
    """A MEMO database of the benchmark's own: SQLite file, or a MariaDB ``memo_bench_<hex>`` dropped at close."""

    def __init__(self, url: str, admin=None, name: str | None = None):
        import sqlalchemy as sa

        from memo import schema

        self.url = url
        self.engine = sa.create_engine(url)
        self._admin = admin
        self._name = name
        schema.create_schema(self.engine)
        self.clients: dict[str, str] = {}

    @classmethod
    def sqlite(cls, folder: Path) -> "BenchMemo":
        folder.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{folder / 'memo.sqlite'}")

    @classmethod
    def mariadb(cls) -> "BenchMemo":
        import sqlalchemy as sa

        name = f"memo_bench_{secrets.token_hex(6)}"
        admin = sa.create_engine(MARIADB_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        return cls(f"{MARIADB_URL}/{name}?charset=utf8mb4", admin, name)

    def close(self) -> None:
        self.engine.dispose()
        if self._admin is not None:
            with self._admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{self._name}`")
            self._admin.dispose()

    def __enter__(self) -> "BenchMemo":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _bulk(self, table, rows: list[dict], chunk: int = 5000) -> None:
        with self.engine.begin() as conn:
            for i in range(0, len(rows), chunk):
                conn.execute(table.insert(), rows[i : i + chunk])

    def add_clients(self, usernames: Iterable[str]) -> None:
        from memo import schema

        rows = []
        for u in usernames:
            if u not in self.clients:
                self.clients[u] = str(uuid.uuid4())
                rows.append({"id": self.clients[u], "name": u.title(), "username": u})
        if rows:
            self._bulk(schema.homedir, rows)

    def add_library(self, sniplets: dict[str, str] | None = None, queries: dict[str, str] | None = None) -> None:
        from memo import schema

        if sniplets:
            self._bulk(schema.script, [{"id": str(uuid.uuid4()), "name": n, "type": "SNIP", "body": b}
                                       for n, b in sniplets.items()])
        if queries:
            self._bulk(schema.query, [{"id": str(uuid.uuid4()), "name": n, "body": b, "is_library": True}
                                      for n, b in queries.items()])

    def add_tasks(self, tasks: list[dict]) -> list[str]:
        """Bulk tasks. Each dict: username, file_name, and optionally body (None: no script),
        sql (own query), frequency, start_date, is_active. Returns the ids in order."""
        from memo import schema

        self.add_clients({t["username"] for t in tasks})
        queries, scripts, rows, ids = [], [], [], []
        for t in tasks:
            name = f"{t['username']}:{t['file_name'].replace('.', '_', 1)}".lower()
            query_id = script_id = None
            if t.get("sql") is not None:
                query_id = str(uuid.uuid4())
                queries.append({"id": query_id, "name": name, "body": t["sql"], "is_library": False})
            if t.get("body") is not None:
                script_id = str(uuid.uuid4())
                scripts.append({"id": script_id, "id_query": query_id, "name": name, "type": "MAIN",
                                "body": t["body"]})
            task_id = str(uuid.uuid4())
            ids.append(task_id)
            rows.append({
                "id": task_id, "id_homedir": self.clients[t["username"]], "id_script": script_id,
                "file_name": t["file_name"], "extension": t["file_name"].rsplit(".", 1)[-1],
                "start_date": t.get("start_date", START), "frequency": t.get("frequency", "D"),
                "is_active": t.get("is_active", True),
            })
        self._bulk(schema.query, queries)
        self._bulk(schema.script, scripts)
        self._bulk(schema.task, rows)
        return ids

    def trivial_tasks(self, n: int, body: str = TRIVIAL, clients: int = 10) -> list[str]:
        """``n`` tasks due every day, each with its own query and the same small script."""
        return self.add_tasks([
            {"username": f"client{i % clients:03d}", "file_name": f"task{i:05d}.xml", "body": body,
             "sql": f"SELECT {i} AS id"}
            for i in range(n)
        ])

    def runlog_count(self) -> int:
        import sqlalchemy as sa

        from memo import schema

        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(schema.runlog)).scalar()
