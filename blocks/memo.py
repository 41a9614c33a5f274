"""The runner's Prefect Blocks, so an operator configures a deployment in the Prefect UI.

Register them once per Prefect server::

    prefect block register -m blocks.memo

then create documents under *Blocks* in the UI (or in Python, see docs/prefect.md)
and pass their names as the flows' ``database_block`` / ``container_block``
parameters. Without a block name the flows read the ``MEMO_*`` environment, so
nothing here is needed to run without a Prefect server.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from memo.settings import ContainerSettings, DockerSize, NonRootUser, Settings


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


class MemoContainerSettings(Block):
    """How scripts run: the sandbox, its image and the container limits (``MEMO_CONTAINER_*``)."""

    _block_type_name = "MEMO Container Settings"
    _block_type_slug = "memo-container-settings"
    _description = "Sandbox, image and container limits for the MEMO task runner's scripts."

    sandbox: Literal["docker", "process"] = Field("docker", description="how scripts run")
    docker_image: str = Field("oapen/ubuntu2204python310", description="image scripts run in")
    task_timeout: float = Field(3600, gt=0, description="seconds a script may run")
    concurrency: int = Field(2, ge=1, le=64, description="tasks run at once by one nightly run")
    network: str = Field("none", description="`none`: only the allow-list; `host`/`bridge`/named: an opt-out")
    allow: str = Field("127.0.0.1:3306", description="with network none, the endpoints scripts reach (host:port,...)")
    max_connections: int = Field(16, ge=1, le=1024, description="connections one run may hold through the allow-list")
    memory: DockerSize = Field("1g")
    cpus: float = Field(1.0, gt=0)
    pids_limit: int = Field(256, gt=0)
    user: NonRootUser = Field("65534:65534", description="uid:gid, never root")
    tmpfs_size: DockerSize = Field("64m")
    read_only: bool = Field(True)
    environment: dict[str, str] = Field(default_factory=dict, description="extra environment for scripts")
    docker_host: str | None = Field(None, description="Docker API endpoint; default DOCKER_HOST")


    def container_settings(self, base: ContainerSettings) -> ContainerSettings:
        """``base`` with the block's values over it, validated as ContainerSettings are (the
        allow-list, the refused environment names): explicit arguments beat MEMO_CONTAINER_*."""
        update = {name: getattr(self, name) for name in ContainerSettings.model_fields
                  if name in type(self).model_fields}
        return ContainerSettings(**{**base.model_dump(), **update})


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
        update.update(
            sandbox=block.sandbox, docker_image=block.docker_image,
            task_timeout=block.task_timeout, concurrency=block.concurrency,
            container=block.container_settings(settings.container),
        )
    return settings.model_copy(update=update)
