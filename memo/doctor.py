"""``memo-taskrunner doctor``: everything a night needs, checked, with what to do about it.

``FAIL`` lines are what stops a night (exit status 1); ``WARN`` lines are what leaves the
host open - the Prefect API answering without authentication, scripts on a network
where the allow-list does not hold, the HTTP API without a token where others reach it.
A night still runs with them, so they do not change the exit status.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

from memo.database import MemoDatabase
from memo.sandbox import make_sandbox
from memo.sandbox.egress import parse_allow_list
from memo.settings import Settings


def _folder_problems(path: Path, what: str) -> list[str]:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [f"{what} {path} cannot be created: {exc.strerror}"]
    if not os.access(path, os.W_OK | os.X_OK):
        return [f"{what} {path} is not writable by this user"]
    free = shutil.disk_usage(path).free
    if free < 512 * 1024 * 1024:
        return [f"{what} {path} has only {free // (1024 * 1024)} MB free"]
    return []


def collect_problems(settings: Settings) -> dict[str, list[str]]:
    checks: dict[str, list[str]] = {}
    db = MemoDatabase(settings.database_url, retries=1)
    checks["database"] = db.problems()
    db.dispose()
    checks["exports folder"] = _folder_problems(settings.exports_dir, "exports folder")
    checks["work folder"] = _folder_problems(settings.work_dir, "work folder")
    try:
        sandbox = make_sandbox(settings)
        checks[f"sandbox ({settings.sandbox})"] = sandbox.problems()
    except Exception as exc:  # a sandbox that cannot even be built is the finding
        checks[f"sandbox ({settings.sandbox})"] = [str(exc)]
    if settings.guard_policy:
        try:
            from guard import load_policy

            load_policy(settings.guard_policy)
            checks["guard policy"] = []
        except (OSError, ValueError) as exc:
            checks["guard policy"] = [str(exc)]
    return checks


PREFECT_PROBE = "/admin/version"  # read-only, cheap, and behind the auth middleware (/health is not)
SETUP_HINT = "memo-taskrunner setup-secrets; deploy/*.service load /etc/memo-taskrunner/secrets.env"


def prefect_api_findings(url: str | None, auth: str | None, timeout: float = 5) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the Prefect API at ``url``.

    Problems: it is unreachable or refuses ``auth`` (``PREFECT_API_AUTH_STRING``).
    Warning: it answers a request without credentials. No URL: the commands start a
    temporary server with an auth string of their own (flows.prefect_settings).
    """
    import httpx

    if not url:
        return [], []
    probe = url.rstrip("/") + PREFECT_PROBE
    try:
        anonymous = authenticated = httpx.get(probe, timeout=timeout).status_code
        if auth:  # sent as Prefect's clients send it
            header = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
            authenticated = httpx.get(probe, timeout=timeout, headers=header).status_code
    except httpx.HTTPError as exc:
        return [f"{url} does not answer ({type(exc).__name__}: {exc})"], []
    problems, warnings = [], []
    if anonymous < 400:
        warnings.append(f"{url} answers without authentication: anything on this host can read the "
                        f"blocks' secrets and start flow runs. Set PREFECT_SERVER_API_AUTH_STRING ({SETUP_HINT})")
    if authenticated == 401:
        what = "this PREFECT_API_AUTH_STRING" if auth else "requests without PREFECT_API_AUTH_STRING"
        problems.append(f"{url} refuses {what} (401): load /etc/memo-taskrunner/secrets.env")
    elif authenticated >= 400:
        problems.append(f"{url}{PREFECT_PROBE} answered {authenticated}")
    return problems, warnings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def container_network_warnings(settings: Settings, prefect_url: str | None = None) -> list[str]:
    """Where scripts' traffic can go beyond the library database."""
    if settings.sandbox == "process":
        return ["MEMO_SANDBOX=process: scripts run on the host itself, with its network, files and this user"]
    network = settings.container.network
    if network == "host":
        return ["MEMO_CONTAINER_NETWORK=host: scripts share the host's network and reach every local service, "
                "the Prefect API and the runner's HTTP API included; use the default `none` with MEMO_CONTAINER_ALLOW"]
    if network != "none":
        return [f"MEMO_CONTAINER_NETWORK={network}: the allow-list (MEMO_CONTAINER_ALLOW) does not apply; "
                "scripts reach whatever that network routes to"]
    return [f"MEMO_CONTAINER_ALLOW lets scripts reach {entry}, {what}"
            for entry, what in _allowed_control_plane(settings, prefect_url)]


def _allowed_control_plane(settings: Settings, prefect_url: str | None) -> list[tuple[str, str]]:
    """Endpoints of the container allow-list that lead to the Prefect API or the HTTP API:
    the same port on the same host, or on loopback for both."""
    targets = [(settings.http_host, settings.http_port, "the runner's HTTP API")]
    if prefect_url and urlsplit(prefect_url).port:
        targets.append((urlsplit(prefect_url).hostname or "", urlsplit(prefect_url).port, "the Prefect API"))
    found = []
    for endpoint in parse_allow_list(settings.container.allow):
        for target_host, target_port, what in targets:
            listens_on_loopback = _is_loopback(target_host) or target_host in ("0.0.0.0", "::")
            same_host = endpoint.host == target_host.lower() or (_is_loopback(endpoint.host) and listens_on_loopback)
            if endpoint.port == target_port and same_host:
                found.append((endpoint.label, what))
    return found


def http_api_warnings(settings: Settings) -> list[str]:
    if settings.http_token:
        return []
    if not _is_loopback(settings.http_host):
        return [f"MEMO_HTTP_TOKEN is not set and the API listens on {settings.http_host}: anyone who reaches "
                f"port {settings.http_port} runs tasks ({SETUP_HINT})"]
    if settings.sandbox == "process" or settings.container.network == "host":
        return ["MEMO_HTTP_TOKEN is not set: scripts on the host's network reach the API on loopback"]
    return []


def control_plane_findings(settings: Settings, prefect_api: tuple[str | None, str | None] = (None, None)
                           ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(problems, warnings) of the control plane: who, besides MEMO Manager and the operator,
    can reach the Prefect API and the HTTP API.

    Args:
        prefect_api: the API URL and auth string Prefect's settings name
            (``flows.prefect_settings.configured_api``; the core reads no Prefect settings).
    """
    url, auth = prefect_api
    prefect_problems, prefect_warnings = prefect_api_findings(url, auth)
    problems = {"Prefect API": prefect_problems}
    warnings = {
        "Prefect API": prefect_warnings,
        "container network": container_network_warnings(settings, url),
        "HTTP API": http_api_warnings(settings),
    }
    return problems, warnings


def run_doctor(settings: Settings, prefect_api: tuple[str | None, str | None] = (None, None)) -> int:
    """Print ok/FAIL/WARN per check; exit status 1 when anything FAILs."""
    checks = collect_problems(settings)
    control_problems, warnings = control_plane_findings(settings, prefect_api)
    checks.update(control_problems)
    for name in {**checks, **warnings}:
        for problem in checks.get(name, []):
            print(f"FAIL  {name}: {problem}")
        for warning in warnings.get(name, []):
            print(f"WARN  {name}: {warning}")
        if not checks.get(name) and not warnings.get(name):
            print(f"ok    {name}")
    failed = sum(bool(p) for p in checks.values())
    warned = sum(len(w) for w in warnings.values())
    print(f"{len(checks) - failed}/{len(checks)} checks passed, {warned} warning(s)", file=sys.stderr)
    return 1 if failed else 0
