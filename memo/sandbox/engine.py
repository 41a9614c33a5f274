"""The container engine: which Docker API endpoint, whether the engine there is fit, a client.

One answer to "which endpoint, and named by what" (:func:`docker_host`) serves the
sandbox, its ``doctor`` lines and the demo, so they never disagree about where the
engine is. The version rules live here because they are about the engine, not a run:
Docker Engine before 24.0.7 can truncate a container's output; Podman 4 serves the
same API (``podman system service``), and 1.41 is the API version both speak.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests.exceptions
from docker.utils import kwargs_from_env

from memo.errors import SandboxUnavailable

API_VERSION = "1.41"
"""Docker Engine API version spoken: Podman 4 serves it, Docker 24+ still accepts it."""
MIN_DOCKER = (24, 0, 7)
"""Older Docker Engines can truncate a container's output."""
MIN_PODMAN = (4, 0, 0)
CLIENT_TIMEOUT = 60
"""Seconds an ordinary API call may take (not the attach stream, which has the task's deadline)."""
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
SETTING = "MEMO_CONTAINER_DOCKER_HOST"

ENGINE_ERRORS = (requests.exceptions.RequestException, docker.errors.DockerException, OSError)
"""What a call to the engine raises when the engine (or the way to it) fails."""


@dataclass(frozen=True)
class DockerHost:
    """A Docker API endpoint and what named it."""

    url: str
    named_by: str | None
    """``MEMO_CONTAINER_DOCKER_HOST``, ``DOCKER_HOST``, or ``None``: the default socket."""

    @property
    def source(self) -> str:
        """Where the endpoint is from, as ``doctor`` says it."""
        return self.named_by or f"neither {SETTING} nor DOCKER_HOST: the default socket"


def docker_host(setting: str | None = None) -> DockerHost:
    """Which Docker API endpoint: the setting (``MEMO_CONTAINER_DOCKER_HOST``), else
    ``DOCKER_HOST``, else the default socket.

    Args:
        setting: ``MEMO_CONTAINER_DOCKER_HOST``'s value; ``None`` or "": unset.

    Returns:
        The endpoint's URL and what named it.
    """
    if setting:
        return DockerHost(setting, SETTING)
    if os.environ.get("DOCKER_HOST"):
        return DockerHost(os.environ["DOCKER_HOST"], "DOCKER_HOST")
    return DockerHost(DEFAULT_SOCKET, None)


def client_kwargs(host: DockerHost) -> dict:
    """The client's arguments for ``host``: ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH`` apply,
    but not to a local endpoint that the setting names."""
    kwargs = kwargs_from_env()
    kwargs["base_url"] = host.url
    if host.named_by == SETTING and not host.url.startswith(("tcp://", "https://")):
        kwargs.pop("tls", None)
    return kwargs


def _version_tuple(text: str) -> tuple[int, int, int] | None:
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", str(text or "").strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def _podman(version: dict) -> dict | None:
    components = version.get("Components") or []
    return next((c for c in components if "podman" in str(c.get("Name", "")).lower()), None)


def engine_problem(version: dict) -> str | None:
    """Why the engine that answered ``GET /version`` is unfit, or ``None``.

    Podman says so in ``Components`` (``Podman Engine``); anything else is
    taken as Docker Engine, which must be >= 24.0.7.
    """
    podman = _podman(version)
    api = _version_tuple(version.get("ApiVersion", ""))
    if api is not None and api[:2] < (1, 41):
        return f"the container engine speaks Docker API {version.get('ApiVersion')}; 1.41 or newer is needed"
    if podman is not None:
        text = podman.get("Version") or version.get("Version", "")
        got = _version_tuple(text)
        if got is None:
            return f"cannot tell the Podman version from {text!r}"
        if got < MIN_PODMAN:
            return f"Podman {text} is too old: 4.0 or newer is needed"
        return None
    text = version.get("Version", "")
    got = _version_tuple(text)
    if got is None:
        return f"cannot tell the Docker Engine version from {text!r}"
    if got < MIN_DOCKER:
        return (
            f"Docker Engine {text} is too old: before 24.0.7 it can truncate a container's "
            "output; upgrade to 24.0.7 or newer"
        )
    return None


def engine_name(version: dict) -> str:
    """The engine that answered ``GET /version``, as an operator names it: ``Podman 4.9.3``."""
    podman = _podman(version)
    if podman is not None:
        return f"Podman {podman.get('Version') or version.get('Version')}"
    return f"Docker Engine {version.get('Version')}"


class Engine:
    """The engine at one endpoint: a client per thread, its version checked once, its
    failures said plainly."""

    def __init__(self, host: DockerHost, timeout: float | None = None):
        self.host = host
        self.endpoint = host.url
        self.timeout = timeout or CLIENT_TIMEOUT
        self._client_kwargs = client_kwargs(host)
        self._local = threading.local()
        self._checked = False

    def client(self) -> docker.APIClient:
        """One client per thread (tasks run in parallel threads)."""
        api = getattr(self._local, "api", None)
        if api is None:
            try:
                api = docker.APIClient(version=API_VERSION, timeout=self.timeout, **self._client_kwargs)
            except docker.errors.DockerException as exc:
                raise SandboxUnavailable(f"cannot use the container engine at {self.endpoint}: {exc}") from None
            if str(self.endpoint).startswith(("unix:", "http+unix:")):
                api.trust_env = False  # no proxy/netrc lookups per request on a local socket
            self._local.api = api
        return api

    def check(self, api: docker.APIClient) -> None:
        """Refuse an unfit engine (``GET /version``), once."""
        if self._checked:
            return
        try:
            version = api.version(api_version=False)
        except ENGINE_ERRORS as exc:
            raise self.unavailable("version", exc) from None
        problem = engine_problem(version)
        if problem:
            raise SandboxUnavailable(problem)
        self._checked = True

    def unavailable(self, what: str, exc: BaseException) -> SandboxUnavailable:
        """The error for a failed call ``what``: unreachable (with how to fix it), or the engine's reason."""
        reason = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
        if isinstance(exc, requests.exceptions.ConnectionError) or (
            isinstance(exc, docker.errors.DockerException) and "Connection" in str(exc)
        ):
            return SandboxUnavailable(
                f"container engine unreachable at {self.endpoint} ({what}): "
                f"{_short(self._socket_problem() or reason)}; "
                "start it (tests: docker/podman-up.sh) or set MEMO_CONTAINER_DOCKER_HOST / DOCKER_HOST"
            )
        return SandboxUnavailable(f"container engine error at {self.endpoint} ({what}): {_short(reason)}")

    def _socket_problem(self) -> str | None:
        """A local socket that is missing or not a socket, said plainly (requests only says
        ``('Connection aborted.', FileNotFoundError(2, ...))``)."""
        endpoint = str(self.endpoint)
        if not endpoint.startswith(("unix:", "http+unix:")):
            return None
        path = Path("/" + endpoint.split(":", 1)[1].lstrip("/"))
        if not path.exists():
            return f"no socket at {path}"
        if not path.is_socket():
            return f"{path} is not a socket"
        return None


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
