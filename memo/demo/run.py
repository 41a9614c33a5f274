"""``memo-taskrunner demo``: a MEMO database of samples, run end to end by the nightly flow.

Everything lands under one folder (default ``var/demo``): the SQLite MEMO
database, the exports, the work trees. Scripts run in containers when a Docker
API answers (``DOCKER_HOST``, or the Podman socket ``docker/podman-up.sh``
starts) and the image is there, otherwise as local processes — and it says which.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import sqlalchemy as sa

from memo import schema
from memo.settings import Settings

LOCAL_IMAGE = "localhost/memo-python:latest"
PODMAN_ENV = Path(__file__).resolve().parents[2] / "var" / "podman" / "env"


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


def build_demo_database(url: str, on: dt.date) -> list[str]:
    from memo.demo.samples import seed_demo

    engine = sa.create_engine(url)
    try:
        schema.metadata.drop_all(engine)
        schema.create_schema(engine)
        return seed_demo(engine, on)
    finally:
        engine.dispose()


def run_demo(folder: str | os.PathLike, *, sandbox: str = "auto", on: dt.date | None = None) -> int:
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
    )
    on = on or settings.today()
    due = build_demo_database(settings.database_url, on)
    print(f"demo: MEMO database {settings.database_url} with {len(due)} task(s) due on {on}")
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
