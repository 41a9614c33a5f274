"""Egress by allow-list: a script's container reaches only the endpoints the operator lists.

The container runs with ``network_mode: none`` (only ``lo`` in its namespace). Its PID 1
is ``egress_forwarder.py``, which listens inside on the addresses the scripts use
(``127.0.0.1:3306``, ``db.example.org:3306`` through ``extra_hosts``) and relays each
connection over a unix socket in ``<tree>/.memo-net/`` (the tree is bind-mounted, so the
socket crosses the namespace). The runner's end of each socket, ``EgressRelay``, connects
only to that socket's endpoint, resolved on the host at connect time. What the script
can reach is decided here, on the host: bypassing the forwarder gains it nothing.

- ``parse_allow_list``: ``MEMO_CONTAINER_ALLOW`` into typed ``Endpoint`` s, refusing what
  cannot work (a non-loopback IP literal: no route in the namespace);
- ``EgressPlan``: per sandbox, where each endpoint appears inside the container, the
  ``extra_hosts`` and the forwarder's command (``wrap``);
- ``EgressRelay``: per run, ``create`` (bind the sockets) → ``start`` → ``close`` (every
  connection closed, the sockets removed). A runner that crashes leaves socket files in
  the tree only, which the start-up clean-up of orphaned trees removes with it.

Nothing here imports the docker SDK or Prefect.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import selectors
import shutil
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("memo.sandbox.egress")

FORWARDER = Path(__file__).with_name("egress_forwarder.py")
"""The forwarder's source, bind-mounted read-only into each container; it runs with the
image's python3 and imports nothing of ours."""
FORWARDER_MOUNT = "/memo/egress_forwarder.py"
NET_DIR = ".memo-net"
"""The folder of a run's unix sockets, inside its tree (so mounted with it, read-only)."""
BUFFER = 128 * 1024
"""Bytes one direction of a relayed connection holds at most: memory stays flat."""
BACKLOG = 64
CONNECT_TIMEOUT = 10.0
"""Seconds the runner's end waits for an allowed endpoint to accept."""
DRAIN_WAIT = 1.0
"""Seconds ``close`` lets open connections finish by themselves: the container is gone, so
each ends as soon as what the script sent before it ended is delivered."""
CLOSE_WAIT = 2.0
"""Seconds ``close`` then waits for the relay's threads once their sockets are shut."""
UNIX_PATH_MAX = 107
"""Bytes of a unix socket's path (108 with its NUL)."""
FORBIDDEN_ENV_PREFIXES = ("MEMO_", "PREFECT_", "DOCKER_")
"""Environment a container never gets: the runner's own settings and secrets."""
_HOST_NAME = re.compile(
    r"(?=.{1,253}\Z)"  # 253 characters at most
    r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"  # a first label of 63 at most
    r"(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\Z"  # and any more, dot-separated
)


@dataclass(frozen=True)
class Endpoint:
    """One allowed TCP endpoint as the operator wrote it: a loopback literal, ``localhost``
    or a host name (lower-cased), and a port."""

    host: str
    port: int

    @property
    def label(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def is_literal(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
            return True
        except ValueError:
            return False

    @property
    def is_name(self) -> bool:
        """A host name the container learns through ``extra_hosts`` (not ``localhost``)."""
        return not self.is_literal and self.host != "localhost"


def parse_endpoint(text: str) -> Endpoint:
    """``host:port`` (``[v6]:port`` for IPv6) into an ``Endpoint``.

    Raises:
        ValueError: not ``host:port``, a bad port or name, or an IP address that is not
            loopback (a namespace without routes cannot reach it: list the host by name).
    """
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:3306")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port (e.g. 127.0.0.1:3306 or db.example.org:3306)")
    host = host.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.match(host):
            raise ValueError(f"{text!r}: {host!r} is not a host name") from None
        return Endpoint(host, int(port))
    if not address.is_loopback:
        raise ValueError(
            f"{text!r}: a container without a network cannot reach the IP address {host}; "
            f"list the host by name instead (e.g. db.example.org:{port}; give it a name in "
            "the runner host's /etc/hosts if it has none)"
        )
    return Endpoint(str(address), int(port))


def parse_allow_list(text: str) -> tuple[Endpoint, ...]:
    """``MEMO_CONTAINER_ALLOW`` (comma-separated ``host:port``) into endpoints, in order,
    without repeats; empty text allows nothing. Raises ``ValueError`` (``parse_endpoint``)."""
    endpoints: list[Endpoint] = []
    for item in text.split(","):
        if item.strip():
            endpoint = parse_endpoint(item)
            if endpoint not in endpoints:
                endpoints.append(endpoint)
    return tuple(endpoints)


def format_allow_list(endpoints: tuple[Endpoint, ...]) -> str:
    return ",".join(e.label for e in endpoints)


def forbidden_environment(environment: dict[str, str]) -> list[str]:
    """Keys that would carry the runner's settings or secrets into a container."""
    return sorted(k for k in environment if k.upper().startswith(FORBIDDEN_ENV_PREFIXES))


@dataclass(frozen=True)
class Listener:
    """Where one endpoint appears inside the container, and the socket that carries it."""

    endpoint: Endpoint
    socket_name: str


@dataclass(frozen=True)
class EgressPlan:
    """The egress of every run of a sandbox: computed once from the settings.

    A loopback literal stays itself inside; ``localhost`` is whatever the container's
    ``/etc/hosts`` says (127.0.0.1, ::1); each host name gets its own loopback address
    (127.0.0.2, …) through ``extra_hosts``, so two databases on one port stay apart.
    """

    listeners: tuple[Listener, ...]
    extra_hosts: tuple[tuple[str, str], ...]
    max_connections: int
    scripts_mount: str

    @classmethod
    def build(cls, endpoints: tuple[Endpoint, ...], *, max_connections: int,
              scripts_mount: str) -> "EgressPlan":
        # Literals first: the forwarder binds in this order, and a name that the container's
        # /etc/hosts (Podman copies the host's) also maps to 127.0.0.1 must not take it.
        ordered = sorted(endpoints, key=lambda e: (not e.is_literal, e.host == "localhost"))
        taken = {e.host for e in endpoints if e.is_literal}
        names: dict[str, str] = {}
        free = (f"127.0.0.{n}" for n in range(2, 255) if f"127.0.0.{n}" not in taken)
        for endpoint in ordered:
            if endpoint.is_name and endpoint.host not in names:
                try:
                    names[endpoint.host] = next(free)
                except StopIteration:
                    raise ValueError("more host names than loopback addresses (253)") from None
        listeners = tuple(Listener(e, f"{i}.sock") for i, e in enumerate(ordered))
        longest = f"{scripts_mount.rstrip('/')}/{NET_DIR}/{len(listeners)}.sock"
        if len(longest.encode()) > UNIX_PATH_MAX:
            raise ValueError(f"MEMO_CONTAINER_SCRIPTS_MOUNT {scripts_mount!r} is too long for the egress "
                             f"sockets inside the container ({longest!r}: at most {UNIX_PATH_MAX} bytes)")
        return cls(listeners, tuple(names.items()), max_connections, scripts_mount.rstrip("/"))

    @classmethod
    def for_container(cls, container) -> "EgressPlan | None":
        """The plan for ``ContainerSettings``; ``None`` when there is nothing to relay: a
        network other than ``none`` (the allow-list does not apply) or an empty list.

        Raises ``ValueError`` for an allow-list that does not parse (the settings check it
        at load; a Prefect block's copy may not have been)."""
        if container.network != "none":
            return None
        endpoints = parse_allow_list(container.allow)
        if not endpoints:
            return None
        return cls.build(endpoints, max_connections=container.max_connections,
                         scripts_mount=container.scripts_mount)

    def wrap(self, command: list[str]) -> list[str]:
        """``command`` run under the forwarder, the container's PID 1."""
        wrapped = ["python3", "-I", "-S", "-B", FORWARDER_MOUNT, "--max-connections", str(self.max_connections)]
        for listener in self.listeners:
            path = f"{self.scripts_mount}/{NET_DIR}/{listener.socket_name}"
            wrapped += ["--listen", f"{listener.endpoint.label}={path}"]
        return wrapped + ["--", *command]

    def mounts(self) -> list[tuple[str, str]]:
        """(container path, host path) of the read-only bind mounts the forwarder needs."""
        return [(FORWARDER_MOUNT, str(FORWARDER))]

    def describe(self) -> str:
        return ", ".join(listener.endpoint.label for listener in self.listeners)


class EgressRelay:
    """The runner's end of one run's egress: a unix socket per allowed endpoint.

    Each accepted connection is connected to that socket's endpoint only (resolved on the
    host at connect time, within ``CONNECT_TIMEOUT``) and relayed both ways by two
    threads, each with one fixed buffer and blocking sends (back-pressure: memory stays
    flat whatever the volume); an end of stream is passed on as a half-close. At most
    ``plan.max_connections`` are open at once; more are closed at once and logged.
    """

    def __init__(self, plan: EgressPlan, folder: Path, name: str):
        self.plan, self.folder, self.name = plan, folder, name
        self._dir_fd: int | None = None
        self._listeners: dict[socket.socket, Endpoint] = {}
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.connections: Counter[str] = Counter()
        self.refused = 0
        self.failed = 0
        self.bytes_to_script = 0
        self.bytes_from_script = 0

    @classmethod
    def create(cls, plan: EgressPlan, tree: Path, name: str) -> "EgressRelay":
        """Bind and listen on ``<tree>/.memo-net/<n>.sock``; nothing is accepted before ``start``.

        Binds through ``/proc/self/fd/<dir fd>/``: a unix socket path holds at most 108
        bytes, and a tree's path can be longer.
        """
        relay = cls(plan, Path(tree) / NET_DIR, name)
        try:
            relay.folder.mkdir(mode=0o755)
            os.chmod(relay.folder, 0o755)
            relay._dir_fd = os.open(relay.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            for listener in plan.listeners:
                relay._bind(listener)
        except BaseException:
            relay.close()
            raise
        return relay

    def _bind(self, listener: Listener) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind(f"/proc/self/fd/{self._dir_fd}/{listener.socket_name}")
            # The container's user must write the socket to connect; MEMO_WORK_DIR (0700)
            # keeps other host users away from it.
            os.chmod(listener.socket_name, 0o666, dir_fd=self._dir_fd)
            server.listen(BACKLOG)
            server.setblocking(False)
        except BaseException:
            server.close()
            raise
        self._listeners[server] = listener.endpoint

    def start(self) -> None:
        """Accept connections (one thread) until ``close``."""
        self._thread = threading.Thread(target=self._serve, name=f"memo-egress-{self.name}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_r, selectors.EVENT_READ, None)
            for server, endpoint in self._listeners.items():
                selector.register(server, selectors.EVENT_READ, endpoint)
            while True:
                for key, _ in selector.select():
                    if key.data is None:
                        return
                    self._accept(key.fileobj, key.data)

    def _accept(self, server: socket.socket, endpoint: Endpoint) -> None:
        try:
            client, _ = server.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        client.setblocking(True)
        with self._lock:
            over = len(self._links) >= self.plan.max_connections
            if over:
                self.refused += 1
            else:
                link = _Link(self, client, endpoint)
                self._links.add(link)
                self.connections[endpoint.label] += 1
        if over:
            client.close()
            level = logging.WARNING if self.refused == 1 else logging.DEBUG
            log.log(level, "egress of %s: refused a connection to %s: %d are open, the most "
                    "allowed (MEMO_CONTAINER_MAX_CONNECTIONS)", self.name, endpoint.label,
                    self.plan.max_connections)
            return
        link.start()

    def _ended(self, link: "_Link") -> None:
        with self._lock:
            self._links.discard(link)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._links)

    def close(self) -> None:
        """Stop accepting, let connections deliver what is in flight (``DRAIN_WAIT``), cut
        the rest, remove the sockets. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(CLOSE_WAIT)
        with self._lock:
            links = list(self._links)
        drained = time.monotonic() + DRAIN_WAIT
        for link in links:
            link.join(max(drained - time.monotonic(), 0))
        for link in links:
            link.abort()
        for link in links:
            link.join(CLOSE_WAIT)
        for sock in (*self._listeners, self._wake_r, self._wake_w):
            sock.close()
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.connections or self.refused or self.failed:
            log.debug("egress of %s: %s; %d bytes to the script, %d from it; %d refused over the cap, "
                      "%d could not connect", self.name,
                      ", ".join(f"{label} ×{n}" for label, n in self.connections.items()) or "none",
                      self.bytes_to_script, self.bytes_from_script, self.refused, self.failed)


class _Link:
    """One relayed connection: the script's unix end and the endpoint's TCP end."""

    def __init__(self, relay: EgressRelay, client: socket.socket, endpoint: Endpoint):
        self.relay, self.client, self.endpoint = relay, client, endpoint
        self.upstream: socket.socket | None = None
        self._aborted = False
        self._thread = threading.Thread(target=self._run, name=f"memo-egress-{relay.name}", daemon=True)
        self._back: threading.Thread | None = None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            upstream = self._connect()
            if upstream is None:
                return
            self._back = threading.Thread(target=self._pump, args=(upstream, self.client, True), daemon=True,
                                          name=f"memo-egress-{self.relay.name}")
            self._back.start()
            self._pump(self.client, upstream, False)
            self._back.join()
        finally:
            for sock in (self.client, self.upstream):
                if sock is not None:
                    sock.close()
            self.relay._ended(self)

    def _connect(self) -> socket.socket | None:
        try:
            upstream = socket.create_connection((self.endpoint.host, self.endpoint.port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            with self.relay._lock:
                self.relay.failed += 1
            log.warning("egress of %s: cannot connect to %s: %s", self.relay.name, self.endpoint.label,
                        exc.strerror or exc)
            return None
        upstream.settimeout(None)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.upstream = upstream
        if self._aborted:  # closed while connecting
            return None
        return upstream

    def _pump(self, src: socket.socket, dst: socket.socket, to_script: bool) -> None:
        buffer = bytearray(BUFFER)
        view = memoryview(buffer)
        moved = 0
        try:
            while True:
                n = src.recv_into(buffer)
                if not n:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(view[:n])
                moved += n
        except OSError:
            self.abort()  # a reset on one side ends the other
        finally:
            with self.relay._lock:
                if to_script:
                    self.relay.bytes_to_script += moved
                else:
                    self.relay.bytes_from_script += moved

    def abort(self) -> None:
        self._aborted = True
        for sock in (self.client, self.upstream):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
