"""The runner's Prefect Blocks, so an operator configures a deployment in the Prefect UI.

Register them once per Prefect server::

    prefect block register -m blocks.memo

(prefect-docker's *Docker Host* with them), then create documents under *Blocks* in the UI
(or in Python, see docs/prefect.md) and pass their names as the flows' ``database_block`` / ``container_block``
parameters. Without a block name the flows read the ``MEMO_*`` environment, so
nothing here is needed to run without a Prefect server.
"""

from __future__ import annotations

import copy
from typing import Literal
from urllib.parse import quote

from prefect.blocks.core import Block
from prefect_docker import DockerHost
from pydantic import Field, SecretStr, model_validator

from memo.errors import ConfigError
from memo.settings import ContainerSettings, Settings

RUN_FIELDS = ("sandbox", "docker_image", "task_timeout", "concurrency")
"""The ``Settings`` (not container settings) a container block holds."""


class MemoDatabaseCredentials(Block):
    """Where the MEMO database (``oapen_memo``) is and how to log in; the password is a secret."""

    _block_type_name = "MEMO Database Credentials"
    _block_type_slug = "memo-database-credentials"
    _description = "Connection to MEMO's oapen_memo database (MySQL/MariaDB) for the MEMO task runner."

    driver: str = Field("mysql+pymysql", description="SQLAlchemy driver")
    host: str = Field("127.0.0.1", description="database host")
    port: int = Field(3306, ge=1, le=65535)
    database: str = Field("oapen_memo", description="database name")
    username: str = Field("memo", description="database user")
    password: SecretStr = Field(SecretStr(""), description="database password")
    url: SecretStr | None = Field(
        None, description="a whole SQLAlchemy URL instead of the fields above (e.g. sqlite:///...)"
    )

    def sqlalchemy_url(self) -> str:
        if self.url is not None and self.url.get_secret_value():
            return self.url.get_secret_value()
        auth = quote(self.username, safe="")
        password = self.password.get_secret_value()
        if password:
            auth += ":" + quote(password, safe="")
        return f"{self.driver}://{auth}@{self.host}:{self.port}/{self.database}?charset=utf8mb4"


def _run_field(name: str):
    """The ``Settings`` field ``name`` (default, description, constraints) for a block field."""
    return copy.deepcopy(Settings.model_fields[name])


def _container_defaults() -> dict:
    return {name: field.get_default(call_default_factory=True)
            for name, field in ContainerSettings.model_fields.items()}


ENGINE_FIELDS = ("docker_host", "docker_timeout")
"""The ContainerSettings of the engine connection: a block leaves them unset (None) to keep
the environment's; a DockerHost block sets them."""


def engine_settings(docker_host: DockerHost) -> dict:
    """The container settings a prefect-docker ``DockerHost`` gives: its base URL and timeout
    (unset: left alone, as ``DockerHost`` leaves them to the environment).

    Its ``version`` and ``max_pool_size`` are not used (the sandbox speaks Docker API 1.41 and
    keeps one client per thread).

    Raises:
        ConfigError: ``client_kwargs`` (TLS and the rest): the sandbox takes TLS only from
            ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``, and a TLS setting silently dropped
            would talk to the engine in the clear.
    """
    if docker_host.client_kwargs:
        raise ConfigError(
            f"Docker Host block: client_kwargs ({', '.join(sorted(docker_host.client_kwargs))}) are not "
            "applied to the MEMO sandbox; leave them empty (TLS: DOCKER_TLS_VERIFY/DOCKER_CERT_PATH "
            "in the worker's environment)")
    values = {"docker_host": docker_host.base_url, "docker_timeout": docker_host.timeout}
    return {name: value for name, value in values.items() if value is not None}


class MemoContainerSettings(Block):
    """How scripts run: the sandbox, its image, the container settings (``MEMO_CONTAINER_*``,
    every one of ``ContainerSettings``) and optionally the engine as a prefect-docker Docker Host."""

    _block_type_name = "MEMO Container Settings"
    _block_type_slug = "memo-container-settings"
    _description = "Sandbox, image, container limits and engine (a Docker Host) for the MEMO task runner's scripts."

    sandbox: Literal["docker", "process"] = _run_field("sandbox")
    docker_image: str = _run_field("docker_image")
    task_timeout: float = _run_field("task_timeout")
    concurrency: int = _run_field("concurrency")
    container: ContainerSettings = Field(
        default_factory=lambda: ContainerSettings(**_container_defaults()), title="Container",
        description="the MEMO_CONTAINER_* settings; docker_host and docker_timeout unset: the "
        "Docker Host block's, else the environment's")
    docker_host: DockerHost | None = Field(
        None, title="Docker Host", description="the container engine (base URL, timeout); "
        "none: docker_host above, else MEMO_CONTAINER_DOCKER_HOST / DOCKER_HOST")

    @model_validator(mode="before")
    @classmethod
    def _own_values(cls, data):
        """A block's container settings are its own: a field it does not hold is
        ContainerSettings' default, never the environment of whoever loads it. A block saved
        before issue 14 held the container settings flat: they move into ``container`` (once
        it has one, flat keys are leftovers: Prefect merges a re-saved document's data)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        flat = {name: data.pop(name) for name in ContainerSettings.model_fields
                if name in data and not (name == "docker_host" and isinstance(data[name], (dict, Block)))}
        if flat and "container" not in data:
            data["container"] = flat
        if isinstance(data.get("container"), dict):
            data["container"] = {**_container_defaults(), **data["container"]}
        return data

    def container_settings(self, base: ContainerSettings) -> ContainerSettings:
        """The run's container settings: the block's, with the engine from its Docker Host, else
        from its own engine fields if set, else from ``base`` (the environment's); validated
        as ContainerSettings are."""
        values = self.container.model_dump()
        for name in ENGINE_FIELDS:
            if values[name] is None:
                values[name] = getattr(base, name)
        if self.docker_host is not None:
            values.update(engine_settings(self.docker_host))
        return ContainerSettings(**values)


def apply_blocks(
    settings: Settings, *, database_block: str | None = None, container_block: str | None = None
) -> Settings:
    """``settings`` with the named blocks' values over them.

    The blocks win over the environment: naming a block is the more specific choice.
    """
    update: dict = {}
    if database_block:
        update["database_url"] = MemoDatabaseCredentials.load(database_block).sqlalchemy_url()
    if container_block:
        block = MemoContainerSettings.load(container_block)
        update.update({name: getattr(block, name) for name in RUN_FIELDS},
                      container=block.container_settings(settings.container))
    return settings.model_copy(update=update)
