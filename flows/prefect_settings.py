"""What Prefect's own settings say about the API, and the temporary server's auth string.

The Prefect side of two shell commands (the core stays free of Prefect): ``doctor`` asks
which API the flows would use (``configured_api``), and ``serve``/``nightly``/``demo``
give a temporary in-process server an auth string before it starts
(``give_the_temporary_server_auth``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import MutableMapping

from memo.secrets_file import CLIENT_AUTH, SERVER_AUTH, new_auth_string


def configured_api() -> tuple[str | None, str | None]:
    """The Prefect API URL and auth string the flows would use (environment, profile, prefect.toml).

    Importing Prefect costs seconds on a busy host: skipped when nothing names an API URL.
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
    an API (environment, profile or prefect.toml), which then wins. True when it was set."""
    if environ.get("PREFECT_HOME") or environ.get("PREFECT_API_URL") or _prefect_files_name_an_api():
        return False
    environ["PREFECT_HOME"] = str(home)
    return True
