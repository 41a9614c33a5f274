"""Prefect's settings, in one place: what they say about the API, the server's tuning,
the defaults of the commands that start Prefect, and the temporary server's auth string.

The Prefect side of the shell commands (the core stays free of Prefect): ``doctor`` asks
which API the flows would use (``configured_api``); ``serve``/``nightly``/``demo`` set
``PREFECT_DEFAULTS`` and give a temporary in-process server an auth string before it
starts (``prefect_environment``); ``PREFECT_SERVER_TUNING`` is what every Prefect server
of ours runs with (deploy/prefect-server.service, the temporary server, the tests' and
benchmarks' servers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import MutableMapping

from memo.secrets_file import CLIENT_AUTH, SERVER_AUTH, new_auth_string


def configured_api() -> tuple[str | None, str | None]:
    """The Prefect API URL and auth string the flows would use (environment, profile, prefect.toml).

    Importing Prefect costs seconds on a busy host: skipped when nothing names an API URL.

    Returns:
        ``(url, auth string)``, each ``None`` when unset; ``(None, None)`` when nothing names an
        API (the commands would start a temporary server).
    """
    if not os.environ.get("PREFECT_API_URL") and not _prefect_files_name_an_api():
        return None, None
    from prefect.settings import get_current_settings

    api = get_current_settings().api
    return api.url, api.auth_string.get_secret_value() if api.auth_string else None


def _prefect_files_name_an_api() -> bool:
    home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    for path, marker in ((profiles, "PREFECT_API_URL"), (Path("prefect.toml"), "url")):
        try:
            if marker in path.read_text(encoding="utf-8"):
                return True
        except OSError:
            pass
    return False


def give_the_temporary_server_auth() -> None:
    """Without an API URL (environment, profile or prefect.toml) Prefect starts a temporary
    server in-process, open to anything on the host like any server without an auth string:
    this one gets an auth string too, shared by the server and its clients (children such as
    ``python -m flows.service`` inherit it)."""
    import prefect.context
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return
    if temporary_server_auth(os.environ):
        prefect.context.refresh_global_settings_context()  # Prefect read the environment on import


def temporary_server_auth(environ: MutableMapping[str, str]) -> bool:
    """Give the temporary server and its clients one auth string: the operator's, else a random
    one for this process. True when ``environ`` changed."""
    auth = environ.get(SERVER_AUTH) or environ.get(CLIENT_AUTH) or new_auth_string()
    changed = False
    for name in (SERVER_AUTH, CLIENT_AUTH):
        if not environ.get(name):
            environ[name] = auth
            changed = True
    return changed


def keep_prefect_state_in(home: Path, environ: MutableMapping[str, str] = os.environ) -> bool:
    """The demo's Prefect state (its temporary server's database) in its own folder, not the
    user's ``~/.prefect``: ``PREFECT_HOME`` becomes ``home`` unless the operator named a home or
    an API (environment, profile or prefect.toml), which then wins. True when it was set.

    Args:
        home: the demo's folder for Prefect's state.
        environ: the environment to read and change (the process's by default).

    Returns:
        True when ``PREFECT_HOME`` was set to ``home``, False when the operator's wins.
    """
    if environ.get("PREFECT_HOME") or environ.get("PREFECT_API_URL") or _prefect_files_name_an_api():
        return False
    environ["PREFECT_HOME"] = str(home)
    return True


PREFECT_SERVER_TUNING = {
    # The server's task run recorder writes each state event of a task run in its own
    # transaction by default: ≈ 25 ms of server CPU per MEMO task, which on a small host
    # competes with the scripts. In batches of 50 (flushed at least every second, so the
    # UI lags by ≤ 1 s) it is ≈ 8 ms (bench/bench_orchestration.py, BENCHMARKS.md).
    # deploy/prefect-server.service sets the same values (tests/flows/test_deployments.py).
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "50",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "50",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
}

PREFECT_DEFAULTS = {
    **PREFECT_SERVER_TUNING,  # for the temporary server started in-process
    # No telemetry from a machine that may have no internet (else ERROR lines).
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Without PREFECT_API_URL a temporary server starts in-process: 7-16 s, more on a
    # busy host, against a default limit of 20 s.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


def prefect_environment(*, temporary_server_auth: bool = True) -> None:
    """Defaults for the commands that start Prefect; an operator's own values win. A temporary
    in-process server gets an auth string (``flows.prefect_settings``); ``serve`` gives it in
    its Prefect side's thread instead (importing Prefect here would delay its HTTP port).

    Args:
        temporary_server_auth: give a temporary server its auth string now (imports Prefect);
            False leaves that to the caller (``serve``).
    """
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if not temporary_server_auth:
        return
    give_the_temporary_server_auth()
