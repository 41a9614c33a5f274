"""``memo-taskrunner demo``: a MEMO database of samples, run end to end by the nightly flow.

Everything lands under one folder (default ``var/demo``): the SQLite MEMO
database, the exports, the work trees, the Prefect state (``cli.main`` sets it) and
``env``, the demo's settings for the other commands (``set -a; . var/demo/env; set +a``).
The scripts read the sample library from MariaDB/MySQL, as production scripts read the
OAPEN library: the demo (re)creates a database and a read-only account for it, named
after the folder (``library_names``: two checkouts on one server keep theirs), through
the admin URL in ``MEMO_DEMO_LIBRARY_ADMIN_URL`` (default
``mysql+pymysql://root@127.0.0.1:3306``). Scripts run in containers when a Docker
API answers (``DOCKER_HOST``, or the Podman socket ``docker/podman-up.sh``
starts) and the image is there, otherwise as local processes — and it says which.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Mapping

import sqlalchemy as sa
from pydantic import ValidationError

from memo import schema
from cli.demo.samples import (
    DEMO_LIBRARY_COLUMNS,
    DEMO_LIBRARY_ROWS,
    DEMO_LIBRARY_TABLE,
    LibraryAccess,
    seed_demo,
)
from memo.errors import ConfigError, MemoError
from memo.settings import ContainerSettings, DemoSettings, Settings, describe_validation_error

LOCAL_IMAGE = "localhost/memo-python:latest"
PODMAN_ENV = Path(__file__).resolve().parents[2] / "var" / "podman" / "env"

LIBRARY_ADMIN_ENV = "MEMO_DEMO_LIBRARY_ADMIN_URL"
DEFAULT_LIBRARY_ADMIN_URL = "mysql+pymysql://root@127.0.0.1:3306"
LIBRARY_DATABASE = "memo_demo_library"
LIBRARY_READER = "memo_demo_reader"
ENV_FILE = "env"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


class SampleLibraryUnavailable(MemoError):
    """The MariaDB/MySQL server for the demo's sample library cannot be reached or set up."""


def library_admin_url() -> str:
    return DemoSettings().library_admin_url or DEFAULT_LIBRARY_ADMIN_URL


def library_names(folder: str | os.PathLike) -> dict[str, str]:
    """The sample library's database and reader for the demo in ``folder``: named after its
    absolute path, so a second checkout's demo on the same server never drops or re-keys them."""
    tag = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:10]
    return {"database": f"{LIBRARY_DATABASE}_{tag}", "reader": f"{LIBRARY_READER}_{tag}"}


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
    except (sa.exc.ArgumentError, ValueError):
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
    """The endpoint the docker sandbox takes from DOCKER_HOST, else instead of its default
    socket the one that docker/podman-up.sh wrote down (else none: no Docker API here)."""
    from memo.sandbox.engine import docker_host as sandbox_docker_host  # the docker SDK: only when asked

    host = sandbox_docker_host()
    if host.named_by is not None:
        return host.url
    return podman_up_socket()


def podman_up_socket() -> str | None:
    """The ``DOCKER_HOST`` line that docker/podman-up.sh wrote to var/podman/env, if any."""
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
    import docker
    import requests

    try:
        client = docker.DockerClient(base_url=host, timeout=5)
        client.ping()
        client.images.get(image)
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:  # no usable container runtime
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


def demo_settings(root: Path, sandbox: str, library: LibraryAccess) -> tuple[Settings, str]:
    """The demo's settings and why its sandbox. Its own database, folders, sandbox and timeout
    beat ``MEMO_*`` in the environment (the demo drops and re-seeds its database: an operator's
    ``MEMO_DATABASE_URL`` must never be it); the rest, ``MEMO_DOCKER_IMAGE`` included, is theirs."""
    try:
        base = Settings()
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    image = base.docker_image if "docker_image" in base.model_fields_set else LOCAL_IMAGE
    chosen, why = pick_sandbox(sandbox, image)
    own = {
        "docker_image": image,
        "database_url": f"sqlite:///{root / 'memo-demo.sqlite'}",
        "exports_dir": root / "exports",
        "work_dir": root / "work",
        "sandbox": chosen,
        "task_timeout": 120,
        "container": demo_container_settings(library),
    }
    return base.model_copy(update=own), why


def demo_environment(settings: Settings, extra: Mapping[str, str]) -> dict[str, str]:
    """What the other commands need to work on the demo's data (``var/demo/env``)."""
    values = {
        "MEMO_DATABASE_URL": settings.database_url,
        "MEMO_EXPORTS_DIR": str(settings.exports_dir),
        "MEMO_WORK_DIR": str(settings.work_dir),
        "MEMO_SANDBOX": settings.sandbox,
        "MEMO_DOCKER_IMAGE": settings.docker_image,
        "MEMO_TASK_TIMEOUT": f"{settings.task_timeout:g}",
        "MEMO_CONTAINER_NETWORK": settings.container.network,
        "MEMO_CONTAINER_ALLOW": settings.container.allow,
    }
    if settings.sandbox == "docker" and docker_host():
        values["DOCKER_HOST"] = docker_host()
    return {**values, **extra}


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_UNQUOTABLE = re.compile(r"['\"\\$`\n\r]")


def write_env_file(path: Path, values: Mapping[str, str]) -> Path:
    """``NAME='value'`` lines that a shell (``set -a; . file``) and systemd's ``EnvironmentFile=``
    read alike: single quotes, so a value is never split, expanded or run; a value that
    either would read differently (a quote, backslash, ``$``, backquote, line break) is refused."""
    lines = [
        "# Written by `memo-taskrunner demo`: its settings, for the other commands on the demo's data:",
        "#   set -a; . var/demo/env; set +a; .venv/bin/memo-taskrunner due",
    ]
    for name, value in values.items():
        if not _ENV_NAME.fullmatch(name) or _ENV_UNQUOTABLE.search(value):
            raise ConfigError(f"the demo cannot write {name}={value!r} to {path}: rename the folder")
        lines.append(f"{name}='{value}'")
    partial = path.with_name(path.name + ".partial")
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def run_demo(
    folder: str | os.PathLike, *, sandbox: str = "auto", on: dt.date | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> int:
    """Set the demo up in ``folder``, run its night, list its exports. ``extra_env``: more
    lines for its ``env`` file (the CLI's ``PREFECT_HOME``)."""
    root = Path(folder).resolve()
    library = create_sample_library(**library_names(root))
    root.mkdir(parents=True, exist_ok=True)
    settings, why = demo_settings(root, sandbox, library)
    on = on or settings.today()
    due = build_demo_database(settings.database_url, on, library)
    env_file = write_env_file(root / ENV_FILE, demo_environment(settings, extra_env or {}))
    print(f"demo: MEMO database {settings.database_url} with {len(due)} task(s) due on {on}")
    print(
        f"demo: sample library {library.database} on {library.host}:{library.port}, "
        f"read-only account {library.user}"
    )
    print(f"demo: sandbox '{settings.sandbox}' — {why}")
    if settings.sandbox == "process":
        print("demo: WARNING the process sandbox isolates nothing; production uses containers")
    print(f"demo: its settings for the other commands: set -a; . {_shown(env_file)}; set +a")
    sys.stdout.flush()

    from flows.nightly import run_nightly_now

    code = run_nightly_now(settings, on)
    print(f"\ndemo: exports in {settings.exports_dir}:")
    for path in sorted(settings.exports_dir.rglob("*")):
        if path.is_file() and ".partial" not in path.parts:
            print(f"  {path.relative_to(settings.exports_dir)}  ({path.stat().st_size} bytes)")
    print(f"demo: {'all tasks succeeded' if code == 0 else 'some tasks FAILED (see above)'}")
    return code


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when under it (as the README writes it)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
