"""The runner's settings for a benchmark, and whether the docker sandbox can be measured here.

``bench_settings`` puts everything under the benchmark's folder (containers: network
none); ``settings_dict``/``settings_from`` carry them to a child process as JSON;
``scrub_memo_env`` keeps this shell's ``MEMO_*`` out of them. ``docker_host`` and
``docker_problem`` find the Docker API (``DOCKER_HOST`` or var/podman/env) and the image.

Its own module because it is the one place a benchmark's ``Settings`` are made, whatever
data (``bench.memo_db``) they point at.
"""

from __future__ import annotations

import os
from pathlib import Path

from cli.demo.run import docker_host  # DOCKER_HOST, else the socket docker/podman-up.sh wrote

IMAGE = os.environ.get("MEMO_BENCH_DOCKER_IMAGE", "localhost/memo-python:latest")




def docker_problem() -> str | None:
    """Why the docker sandbox cannot be benchmarked here, or None."""
    host = docker_host()
    if not host:
        return "no DOCKER_HOST and no var/podman/env (run `make podman`)"
    try:
        import docker

        api = docker.APIClient(base_url=host, version="1.41", timeout=10)
        api.ping()
        api.inspect_image(IMAGE)
        api.close()
    except Exception as exc:  # noqa: BLE001 - any failure is the reason the docker rows are skipped
        return f"Docker API at {host} or image {IMAGE} unusable: {exc.__class__.__name__}: {exc}"
    return None


def bench_settings(folder: Path, url: str, sandbox: str = "process", container: dict | None = None,
                   **overrides):
    """The runner's settings for a benchmark: everything under ``folder``, network none for containers."""
    from memo.settings import ContainerSettings, Settings

    container = ContainerSettings(**{"docker_host": docker_host(), "network": "none", **(container or {})})
    values = dict(
        database_url=url,
        exports_dir=folder / "exports",
        work_dir=folder / "work",
        sandbox=sandbox,
        docker_image=IMAGE,
        task_timeout=3600,
        timezone="Europe/Amsterdam",
        concurrency=1,
        container=container,
    )
    values.update(overrides)
    return Settings(**values)


def settings_dict(settings) -> dict:
    return settings.model_dump(mode="json")


def settings_from(data: dict):
    from memo.settings import ContainerSettings, Settings

    data = dict(data)
    data["container"] = ContainerSettings(**data["container"])
    return Settings(**data)


def scrub_memo_env() -> None:
    """The fields a benchmark does not give would come from this shell's ``MEMO_*`` (the ones it
    gives beat them): drop them, so that every run measures MEMO's defaults."""
    for key in [k for k in os.environ if k.startswith("MEMO_") and not k.startswith("MEMO_BENCH_")]:
        os.environ.pop(key)
