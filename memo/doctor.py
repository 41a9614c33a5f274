"""``memo-taskrunner doctor``: everything a night needs, checked, with what to do about it.

One line per check: ``ok`` with what was found, ``FAIL`` with what is wrong, ``skip`` for
what could not be checked because what it needs failed first. ``FAIL`` lines are what
stops a night (exit status 1); ``WARN`` lines are what leaves the host open - the Prefect
API answering without authentication, scripts on a network where the allow-list does
not hold, the HTTP API without a token where others reach it. A night still runs with
them, so they do not change the exit status.
"""

from __future__ import annotations

import base64
import ipaddress
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from memo.database import MemoDatabase
from memo.errors import DatabaseError
from memo.sandbox import make_sandbox
from memo.sandbox.base import Check
from memo.sandbox.egress import parse_allow_list
from memo.schema import RUNNER_TABLES
from memo.settings import Settings


MIN_FREE = 512 * 1024 * 1024
"""Bytes free below which a folder FAILs: a night's exports need room."""


def database_check(settings: Settings) -> Check:
    """Reachable, and MEMO's tables there (a wrong database name answers too)."""
    try:
        db = MemoDatabase(settings.database_url, retries=1)
    except Exception as exc:  # noqa: BLE001 - any error is a finding; only its kind: its text may hold the password
        return Check("database", [f"MEMO_DATABASE_URL is no database URL this runner can use ({type(exc).__name__})"])
    where = db.where()
    try:
        missing = db.missing_tables()
    except DatabaseError as exc:
        return Check("database", [f"{where}: {exc.message}"])
    finally:
        db.dispose()
    if missing:
        return Check("database", [f"{where} reachable, but MEMO's tables {', '.join(missing)} are missing: "
                                  "MEMO_DATABASE_URL must name MEMO's oapen_memo"])
    return Check("database", found=f"{where} reachable, tables {', '.join(RUNNER_TABLES)} present")


def folder_check(path: Path, what: str, variable: str) -> Check:
    """The folder exists (made if not), a file can be written in it, and there is room."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".memo-doctor-"):
            pass
    except OSError as exc:
        return Check(what, [f"{path} ({variable}) is not writable by this user: {exc.strerror or exc}"])
    free = shutil.disk_usage(path).free
    if free < MIN_FREE:
        return Check(what, [f"{path} ({variable}) has only {free // (1024 * 1024)} MB free"])
    return Check(what, found=f"{path} writable, {free / 1024 ** 3:.1f} GB free")


def sandbox_checks(settings: Settings) -> list[Check]:
    try:
        return make_sandbox(settings).checks()
    except Exception as exc:  # noqa: BLE001 - a sandbox that cannot even be built is the finding
        return [Check(f"sandbox ({settings.sandbox})", [str(exc)])]


def guard_policy_check(path: Path) -> Check:
    try:
        from guard import load_policy

        load_policy(path)
    except (OSError, ValueError) as exc:
        return Check("guard policy", [str(exc)])
    return Check("guard policy", found=f"{path} (MEMO_GUARD_POLICY) loaded")


def run_checks(settings: Settings) -> list[Check]:
    """What a night needs from this host: database, folders, sandbox (engine, image, network)."""
    checks = [
        database_check(settings),
        folder_check(settings.exports_dir, "exports folder", "MEMO_EXPORTS_DIR"),
        folder_check(settings.work_dir, "work folder", "MEMO_WORK_DIR"),
        *sandbox_checks(settings),
    ]
    if settings.guard_policy:
        checks.append(guard_policy_check(settings.guard_policy))
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


def control_plane_checks(settings: Settings, prefect_api: tuple[str | None, str | None] = (None, None)
                         ) -> tuple[list[Check], dict[str, list[str]]]:
    """The control plane's checks and warnings: who, besides MEMO Manager and the operator,
    can reach the Prefect API and the HTTP API.

    Args:
        prefect_api: the API URL and auth string Prefect's settings name
            (``flows.prefect_settings.configured_api``; the core reads no Prefect settings).
    """
    url, auth = prefect_api
    prefect_problems, prefect_warnings = prefect_api_findings(url, auth)
    if not url:
        answered = "PREFECT_API_URL unset: the commands start a temporary server of their own, with an auth string"
    else:
        answered = f"{url} answers" + (" PREFECT_API_AUTH_STRING and refuses requests without it" if auth else "")
    token = "MEMO_HTTP_TOKEN set" if settings.http_token else "no MEMO_HTTP_TOKEN (this host only reaches it)"
    checks = [Check("Prefect API", prefect_problems, found=answered),
              Check("HTTP API", found=f"listens on {settings.http_host}:{settings.http_port}, {token}")]
    warnings = {
        "Prefect API": prefect_warnings,
        "container network": container_network_warnings(settings, url),
        "HTTP API": http_api_warnings(settings),
    }
    return checks, warnings


def run_doctor(settings: Settings, prefect_api: tuple[str | None, str | None] = (None, None)) -> int:
    """Print a line per check (ok / FAIL / WARN / skip); exit status 1 when anything FAILs.

    Args:
        settings: the settings in force, whose database, sandbox, folders and APIs are checked.
        prefect_api: the API URL and auth string Prefect's settings name
            (``flows.prefect_settings.configured_api``; the core reads no Prefect settings).

    Returns:
        The command's exit status: 1 when any check FAILs, else 0 (warnings do not count).
    """
    control, warnings = control_plane_checks(settings, prefect_api)
    checks = run_checks(settings) + control
    named = {check.name for check in checks}
    checks += [Check(name) for name in warnings if name not in named and warnings[name]]
    for check in checks:
        for line in doctor_lines(check, warnings.get(check.name, [])):
            print(line)
    failed = sum(bool(c.problems) for c in checks)
    skipped = sum(bool(c.not_checked) and not c.problems for c in checks)
    warned = sum(len(w) for w in warnings.values())
    print(f"{len(checks) - failed - skipped}/{len(checks)} checks passed, {skipped} not checked, "
          f"{warned} warning(s)", file=sys.stderr)
    return 1 if failed else 0


def doctor_lines(check: Check, warnings: list[str]) -> list[str]:
    """A check's lines: its problems and warnings, else what it found (or why it was not checked)."""
    lines = [f"FAIL  {check.name}: {p}" for p in check.problems]
    lines += [f"WARN  {check.name}: {w}" for w in warnings]
    if lines:
        return lines
    if check.not_checked:
        return [f"skip  {check.name}: not checked: {check.not_checked}"]
    return [f"ok    {check.name}: {check.found}"]
