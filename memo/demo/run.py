"""``memo-taskrunner demo``: a MEMO database of samples, run end to end by the nightly flow.

Everything lands under one folder (default ``var/demo``): the SQLite MEMO
database, the exports, the work trees. The scripts read the sample library from
MariaDB/MySQL, as production scripts read the OAPEN library: the demo (re)creates
the database ``memo_demo_library`` and a read-only account for it through the admin
URL in ``MEMO_DEMO_LIBRARY_ADMIN_URL`` (default ``mysql+pymysql://root@127.0.0.1:3306``). Scripts run in containers when a Docker
API answers (``DOCKER_HOST``, or the Podman socket ``docker/podman-up.sh``
starts) and the image is there, otherwise as local processes — and it says which.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import sys
from pathlib import Path

import sqlalchemy as sa

from memo import schema
from memo.demo.samples import (
    DEMO_LIBRARY_COLUMNS,
    DEMO_LIBRARY_ROWS,
    DEMO_LIBRARY_TABLE,
    LibraryAccess,
    seed_demo,
)
from memo.errors import MemoError
from memo.settings import ContainerSettings, Settings

LOCAL_IMAGE = "localhost/memo-python:latest"
PODMAN_ENV = Path(__file__).resolve().parents[2] / "var" / "podman" / "env"

LIBRARY_ADMIN_ENV = "MEMO_DEMO_LIBRARY_ADMIN_URL"
DEFAULT_LIBRARY_ADMIN_URL = "mysql+pymysql://root@127.0.0.1:3306"
LIBRARY_DATABASE = "memo_demo_library"
LIBRARY_READER = "memo_demo_reader"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


class SampleLibraryUnavailable(MemoError):
    """The MariaDB/MySQL server for the demo's sample library cannot be reached or set up."""


def library_admin_url() -> str:
    return os.environ.get(LIBRARY_ADMIN_ENV) or DEFAULT_LIBRARY_ADMIN_URL


def _reader_hosts(server_host: str) -> tuple[str, ...]:
    """Where the reader may log in from: the loopback names for a local server, else anywhere."""
    return ("127.0.0.1", "localhost") if server_host in LOOPBACK else ("%",)


def _admin_engine(admin_url: str) -> tuple[sa.Engine, sa.URL]:
    try:
        url = sa.make_url(admin_url)
        if url.get_backend_name() not in ("mysql", "mariadb"):
            raise sa.exc.ArgumentError(f"not a MySQL/MariaDB URL ({url.get_backend_name()})")
        url = url.set(database=None).update_query_dict({"charset": "utf8mb4"})
        return sa.create_engine(url, isolation_level="AUTOCOMMIT"), url
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        raise SampleLibraryUnavailable(_unavailable(admin_url, exc)) from None


def _unavailable(admin_url: str, exc: BaseException) -> str:
    try:
        shown = sa.make_url(admin_url).render_as_string(hide_password=True)
    except Exception:
        shown = "(unparsable URL)"
    reason = getattr(exc, "orig", None) or exc
    reason = " ".join(str(reason.args[-1] if getattr(reason, "args", None) else reason).split())
    return (
        f"the demo's sample library needs MySQL/MariaDB, and it could not be set up through {shown} "
        f"({reason}); start MariaDB (make demo runs .ci/mariadb-up.sh) or set {LIBRARY_ADMIN_ENV} "
        f"to the URL of an account that may create databases and users, e.g. {DEFAULT_LIBRARY_ADMIN_URL}"
    )


def create_sample_library(
    admin_url: str | None = None, *, database: str = LIBRARY_DATABASE, reader: str = LIBRARY_READER
) -> LibraryAccess:
    """(Re)create the sample library and its read-only account; return how scripts reach it.

    Drops ``database`` and ``reader`` first, so every run starts from the same rows;
    the reader gets a new random password and ``SELECT`` on ``database`` only.
    """
    admin_url = admin_url or library_admin_url()
    for name in (database, reader):
        if not _PLAIN_NAME.fullmatch(name):
            raise ValueError(f"not a plain database or user name: {name!r}")
    engine, url = _admin_engine(admin_url)
    host, port = url.host or "127.0.0.1", url.port or 3306
    password = secrets.token_urlsafe(18)
    placeholders = ", ".join(["%s"] * len(DEMO_LIBRARY_COLUMNS))
    try:
        with engine.connect() as conn:
            _drop(conn, database, reader)
            conn.exec_driver_sql(
                f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
            conn.exec_driver_sql(f"USE `{database}`")
            conn.exec_driver_sql(DEMO_LIBRARY_TABLE)
            conn.exec_driver_sql(
                f"INSERT INTO book ({', '.join(DEMO_LIBRARY_COLUMNS)}) VALUES ({placeholders})",
                list(DEMO_LIBRARY_ROWS),
            )
            for login in _reader_hosts(host):
                conn.exec_driver_sql("CREATE USER %s@%s IDENTIFIED BY %s", (reader, login, password))
                conn.exec_driver_sql(f"GRANT SELECT ON `{database}`.* TO %s@%s", (reader, login))
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise SampleLibraryUnavailable(_unavailable(admin_url, exc)) from None
    finally:
        engine.dispose()
    return LibraryAccess(host=host, port=port, user=reader, password=password, database=database)


def drop_sample_library(
    admin_url: str | None = None, *, database: str = LIBRARY_DATABASE, reader: str = LIBRARY_READER
) -> None:
    """Drop the sample library and its reader (nothing happens for what does not exist)."""
    for name in (database, reader):
        if not _PLAIN_NAME.fullmatch(name):
            raise ValueError(f"not a plain database or user name: {name!r}")
    engine, _ = _admin_engine(admin_url or library_admin_url())
    try:
        with engine.connect() as conn:
            _drop(conn, database, reader)
    finally:
        engine.dispose()


def _drop(conn, database: str, reader: str) -> None:
    # A reader still connected (a script left hanging) holds a metadata lock: fail, do not hang.
    conn.exec_driver_sql("SET SESSION lock_wait_timeout = 20")
    for login in ("127.0.0.1", "localhost", "%"):
        conn.exec_driver_sql("DROP USER IF EXISTS %s@%s", (reader, login))
    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{database}`")


def docker_host() -> str | None:
    """DOCKER_HOST, else the socket that docker/podman-up.sh wrote down."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    if PODMAN_ENV.exists():
        for line in PODMAN_ENV.read_text().splitlines():
            if "DOCKER_HOST=" in line:
                return line.split("DOCKER_HOST=", 1)[1].strip().strip("'\"")
    return None


def pick_sandbox(requested: str, image: str) -> tuple[str, str]:
    """(sandbox, why) for ``auto``: docker only when the API answers and has the image."""
    if requested != "auto":
        return requested, f"asked for {requested}"
    host = docker_host()
    if not host:
        return "process", "no Docker API found (run docker/podman-up.sh for containers)"
    try:
        import docker

        client = docker.DockerClient(base_url=host, timeout=5)
        client.ping()
        client.images.get(image)
    except Exception as exc:  # any failure means: no usable container runtime
        return "process", f"Docker API at {host} not usable ({type(exc).__name__}: {exc})"
    os.environ["DOCKER_HOST"] = host
    return "docker", f"Docker API at {host}, image {image}"


def demo_container_settings(library: LibraryAccess) -> ContainerSettings:
    """``MEMO_CONTAINER_*`` with the sample library's endpoint allowed, as an operator lists
    the OAPEN library database: the default allow-list has 127.0.0.1:3306 only, and
    ``MEMO_DEMO_LIBRARY_ADMIN_URL`` may name another host or port."""
    container = ContainerSettings()
    host = f"[{library.host}]" if ":" in library.host else library.host
    endpoint = f"{host}:{library.port}".lower()
    if container.network != "none" or endpoint in container.allow.split(","):
        return container
    try:
        return ContainerSettings(allow=",".join(filter(None, [container.allow, endpoint])))
    except ValueError as exc:  # e.g. an IP address that is not loopback: no route from the container
        reason = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
        print(f"demo: WARNING the sample library cannot be allowed ({reason}); containers use network host")
        return ContainerSettings(network="host")


def build_demo_database(url: str, on: dt.date, library: LibraryAccess) -> list[str]:
    engine = sa.create_engine(url)
    try:
        schema.metadata.drop_all(engine)
        schema.create_schema(engine)
        return seed_demo(engine, on, library)
    finally:
        engine.dispose()


def run_demo(folder: str | os.PathLike, *, sandbox: str = "auto", on: dt.date | None = None) -> int:
    library = create_sample_library()
    root = Path(folder).resolve()
    root.mkdir(parents=True, exist_ok=True)
    image = os.environ.get("MEMO_DOCKER_IMAGE", LOCAL_IMAGE)
    chosen, why = pick_sandbox(sandbox, image)
    settings = Settings(
        database_url=f"sqlite:///{root / 'memo-demo.sqlite'}",
        exports_dir=root / "exports",
        work_dir=root / "work",
        sandbox=chosen,
        docker_image=image,
        task_timeout=120,
        container=demo_container_settings(library),
    )
    on = on or settings.today()
    due = build_demo_database(settings.database_url, on, library)
    print(f"demo: MEMO database {settings.database_url} with {len(due)} task(s) due on {on}")
    print(
        f"demo: sample library {library.database} on {library.host}:{library.port}, "
        f"read-only account {library.user}"
    )
    print(f"demo: sandbox '{chosen}' — {why}")
    if chosen == "process":
        print("demo: WARNING the process sandbox isolates nothing; production uses containers")
    sys.stdout.flush()

    from flows.nightly import run_nightly_now

    code = run_nightly_now(settings, on)
    print(f"\ndemo: exports in {settings.exports_dir}:")
    for path in sorted(settings.exports_dir.rglob("*")):
        if path.is_file() and ".partial" not in path.parts:
            print(f"  {path.relative_to(settings.exports_dir)}  ({path.stat().st_size} bytes)")
    print(f"demo: {'all tasks succeeded' if code == 0 else 'some tasks FAILED (see above)'}")
    return code
