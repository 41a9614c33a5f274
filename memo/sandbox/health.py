"""What the docker sandbox needs on this host, checked: for ``doctor`` and before a run.

Each check says what it found, or what is wrong and how to fix it, and names where the
engine's endpoint came from, since "unreachable" is most often the wrong endpoint. What
needs the engine is not checked when the engine does not answer. The image and the egress
forwarder are checked again at run time (a missing image is an error at once, never a pull).
"""

from __future__ import annotations

import socket

import docker
import docker.errors

from memo.errors import SandboxUnavailable
from memo.sandbox.base import Check
from memo.sandbox.egress import FORWARDER, EgressPlan
from memo.sandbox.engine import ENGINE_ERRORS, Engine, engine_name, engine_problem


def checks(engine: Engine, image: str, network: str, egress: EgressPlan | None) -> list[Check]:
    """The engine and its version, the image, the scripts' network, each with what was found."""
    engine_seen, api = engine_check(engine)
    if api is None:
        image_seen = Check("image", not_checked=f"{image}: the container engine does not answer")
    else:
        image_seen = image_check(engine, api, image)
    return [engine_seen, image_seen, network_check(api, network, egress)]


def engine_check(engine: Engine) -> tuple[Check, docker.APIClient | None]:
    """The engine's check, and the client when the engine answers."""
    named_by = engine.host.source
    try:
        api = engine.client()
        version = api.version(api_version=False)
    except SandboxUnavailable as exc:
        return Check("container engine", [f"{exc.message} (the endpoint is from {named_by})"]), None
    except ENGINE_ERRORS as exc:
        message = engine.unavailable("version", exc).message
        return Check("container engine", [f"{message} (the endpoint is from {named_by})"]), None
    problem = engine_problem(version)
    if problem:
        return Check("container engine", [f"{problem} (at {engine.endpoint})"]), api
    return Check("container engine", found=(
        f"{engine_name(version)} at {engine.endpoint} (from {named_by}), Docker API "
        f"{version.get('ApiVersion')}: new enough (Podman 4.0+, Docker Engine 24.0.7+)")), api


def image_missing(engine: Engine, api: docker.APIClient, image: str) -> str | None:
    """Why ``image`` cannot be used (not on the engine: build it), or ``None``."""
    try:
        api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return (
            f"image {image} is not on the container engine at {engine.endpoint}: build it "
            f"(docker build -t {image} docker/; tests: docker/podman-up.sh) or set MEMO_DOCKER_IMAGE"
        )
    except ENGINE_ERRORS as exc:
        raise engine.unavailable("image inspect", exc) from None
    return None


def image_check(engine: Engine, api: docker.APIClient, image: str) -> Check:
    try:
        missing = image_missing(engine, api, image)
    except SandboxUnavailable as exc:
        missing = exc.message
    return Check("image", [missing]) if missing else Check("image", found=f"{image} is on the engine")


def network_check(api: docker.APIClient | None, network: str, egress: EgressPlan | None) -> Check:
    """The allow-list's endpoints resolve and its forwarder is readable; a named network exists."""
    problems = egress_problems(egress)
    if api is not None and network not in ("host", "none", "bridge", "default") \
            and not network.startswith("container:"):
        try:
            api.inspect_network(network)
        except docker.errors.NotFound:
            problems.append(f"network {network!r} (MEMO_CONTAINER_NETWORK) does not exist on the engine")
        except ENGINE_ERRORS:
            pass
    if network != "none":
        return Check("container network", problems, found=f"MEMO_CONTAINER_NETWORK={network}")
    reach = egress.describe() if egress else "nothing"
    return Check("container network", problems, found=f"none: scripts reach only {reach} (MEMO_CONTAINER_ALLOW)")


def egress_problems(egress: EgressPlan | None) -> list[str]:
    """Allowed endpoints this host cannot resolve, and a forwarder the container cannot read."""
    if egress is None:
        return []
    found = []
    forwarder = forwarder_unreadable()
    if forwarder:
        found.append(forwarder)
    for listener in egress.listeners:
        endpoint = listener.endpoint
        if endpoint.is_literal:
            continue
        try:
            socket.getaddrinfo(endpoint.host, endpoint.port, 0, socket.SOCK_STREAM)
        except OSError as exc:
            found.append(f"MEMO_CONTAINER_ALLOW: {endpoint.host} does not resolve on this host "
                         f"({exc.strerror or exc}); scripts connecting to {endpoint.label} will fail")
    return found


def forwarder_unreadable() -> str | None:
    """Why the container's user cannot read the egress forwarder, or ``None``."""
    try:
        readable = bool(FORWARDER.stat().st_mode & 0o004)
    except OSError as exc:
        return f"the egress forwarder {FORWARDER} is missing: {exc.strerror or exc}"
    if not readable:
        return (f"the egress forwarder {FORWARDER} is not readable by the container's user: "
                f"chmod o+r {FORWARDER}")
    return None
