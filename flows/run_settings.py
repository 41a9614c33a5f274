"""The settings a flow run uses, and how the flows run in this process.

Settings never travel as flow parameters (they hold the database password): in-process
callers (CLI, tests) hand them over with ``using_settings``; a worker's run reads its
environment, then the named Blocks (``resolve_settings``). ``fast_flows`` is Prefect's
settings for flows run in-process.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

from memo.settings import Settings, load_settings

_SETTINGS: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("memo_settings", default=None)


@contextlib.contextmanager
def using_settings(settings: Settings) -> Iterator[None]:
    """Run flows in this context with these settings (in-process callers: CLI, HTTP app, tests).

    Settings never travel as flow parameters: they hold the database password.
    """
    token = _SETTINGS.set(settings)
    try:
        yield
    finally:
        _SETTINGS.reset(token)


def resolve_settings(database_block: str | None = None, container_block: str | None = None) -> Settings:
    """The settings of this run: the caller's, else the environment; then the named blocks over them."""
    settings = _SETTINGS.get() or load_settings()
    if database_block or container_block:
        from blocks import apply_blocks

        settings = apply_blocks(settings, database_block=database_block, container_block=container_block)
    return settings


@contextlib.contextmanager
def fast_flows() -> Iterator[None]:
    """Prefect settings for flows run in-process: no heartbeat thread (saves ~1 s per flow).

    Without ``PREFECT_API_URL`` Prefect starts a temporary server first (7–16 s idle,
    far more on a loaded host): its start-up timeout is raised from 20 s to
    ``PREFECT_DEFAULTS``' value unless the environment sets one.
    """
    import os

    from flows.prefect_settings import PREFECT_DEFAULTS
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    updates: dict = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    if "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" not in os.environ:
        updates[PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS] = int(
            PREFECT_DEFAULTS["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
    with temporary_settings(updates=updates):
        yield
