"""Fixtures for the docker sandbox against a real Docker Engine API (Podman here).

The endpoint is ``DOCKER_HOST``, else the line docker/podman-up.sh wrote to
``var/podman/env``. When it does not answer, or the image is missing, the docker
tests FAIL under CI (``CI=true``) and are skipped elsewhere with a hint.
"""

from __future__ import annotations

import itertools
import os
import secrets
from pathlib import Path

import pytest

from cli.demo.run import docker_host  # DOCKER_HOST, else the socket docker/podman-up.sh wrote

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("MEMO_TEST_DOCKER_IMAGE", "localhost/memo-python:latest")
LABEL = "org.oapen.memo.managed-by=memo-taskrunner"
_names = itertools.count()




def _why_unusable(host: str | None) -> str | None:
    if not host:
        return "no DOCKER_HOST and no var/podman/env"
    import docker

    try:
        api = docker.APIClient(base_url=host, version="1.41", timeout=10)
        api.ping()
    except Exception as exc:  # noqa: BLE001 - any failure is why the docker tests cannot run, said in full
        return f"the Docker API at {host} does not answer ({exc.__class__.__name__}: {exc})"
    try:
        api.inspect_image(IMAGE)
    except Exception as exc:  # noqa: BLE001 - as above: the reason to skip (or fail under CI)
        return f"image {IMAGE} is not on {host} ({exc.__class__.__name__})"
    finally:
        api.close()
    return None




@pytest.fixture
def api():
    import docker

    client = docker.APIClient(base_url=docker_host(), version="1.41", timeout=60)
    yield client
    client.close()


def job_name(prefix: str = "memo-test") -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}-{secrets.token_hex(3)}"


def containers_named(api, name: str) -> list[dict]:
    """Every container (running or not) of that exact name."""
    return [
        c for c in api.containers(all=True, filters={"name": name})
        if any(n.lstrip("/") == name for n in c.get("Names") or [])
    ]


def docker_settings(tmp_path: Path, *, timeout: float = 60, database_url: str | None = None, **container):
    """Settings for the docker sandbox; ``container`` overrides ContainerSettings fields."""
    from memo.settings import ContainerSettings, Settings

    values = dict(docker_host=docker_host(), network="none")
    values.update(container)
    return Settings(
        database_url=database_url or f"sqlite:///{tmp_path / 'memo.sqlite'}",
        exports_dir=tmp_path / "exports",
        work_dir=tmp_path / "work",
        sandbox="docker",
        docker_image=os.environ.get("MEMO_TEST_DOCKER_IMAGE", IMAGE),
        task_timeout=timeout,
        timezone="Europe/Amsterdam",
        validate_exports="off",  # plain text under .xml names, as in tests/conftest.make_settings
        empty_export="write",
        container=ContainerSettings(**values),
    )


def make_tree(tmp_path: Path, main: str, files: dict[str, str] | None = None) -> Path:
    """A script tree like the runner's: a private (0700) folder with main.py."""
    tree = Path(tmp_path) / f"tree-{secrets.token_hex(4)}"
    tree.mkdir(mode=0o700)
    (tree / "main.py").write_text(main, encoding="utf-8")
    for rel, text in (files or {}).items():
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    os.chmod(tree / "main.py", 0o600)
    return tree
