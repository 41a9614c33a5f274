"""The ``docker`` sandbox: each script in a fresh, locked-down container.

Works against Docker Engine >= 24.0.7 and, through the same API, Podman >= 4
(``podman system service``). Only the ``docker`` SDK is used; no Prefect import,
so building a sandbox stays cheap.

A run: inspect the image (a missing one is an error at once, never a pull),
create the container (not auto-removed, so the exit code is never lost),
**attach before start**, start, read the attach stream until the container ends
or the task's deadline passes (then kill), read the exit code and the OOM flag
(inspect, falling back to ``wait``), and always remove the container.

Why attach: following the logs (``logs(follow=True)``, ``containers.run()``)
drops data on Podman and on Docker < 24.0.7. An attach made before the start
receives every byte the script writes. The stream is read frame by frame from
the raw socket (8-byte header: stream id, length) straight into a 1 MiB
buffer, which is written to the export when full: memory stays flat whatever
the output size, and stdout/stderr are never mixed (no tty).

``MEMO_CONTAINER_OUTPUT=file`` instead bind-mounts one empty host file (in the
tree's ``.memo-out/``) writable at ``/memo-out/stdout``, points the script's fd 1
at it, and copies it to the export after the exit: about 5x faster for outputs
of hundreds of MB on Podman (the engine's attach path is the bottleneck), at the
price of one writable host file. stderr still comes through the attach stream.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import stat
import threading
import time
from pathlib import Path
from typing import BinaryIO, Callable

import docker
import docker.errors
import docker.types
import requests.exceptions
from docker.utils import kwargs_from_env

from memo.errors import ConfigError, ExportWriteError, SandboxUnavailable
from memo.sandbox.base import CHUNK, Check, SandboxJob, SandboxResult, StderrTail, write_out
from memo.sandbox.egress import FORWARDER, NET_DIR, EgressPlan, EgressRelay, forbidden_environment
from memo.stopping import STOP

log = logging.getLogger("memo.sandbox.docker")

API_VERSION = "1.41"
"""Docker Engine API version spoken: Podman 4 serves it, Docker 24+ still accepts it."""
MIN_DOCKER = (24, 0, 7)
"""Older Docker Engines can truncate a container's output."""
MIN_PODMAN = (4, 0, 0)
MANAGED_BY = "memo-taskrunner"
ORPHAN_GRACE = 300.0
"""Seconds past its deadline after which a container of another host's runner is an orphan."""
CLIENT_TIMEOUT = 60
"""Seconds an ordinary API call may take (not the attach stream, which has the task's deadline)."""
EXIT_POLL = 2.0
"""Seconds to poll inspect for the exit state after the stream ended, before falling back to wait."""
KILL_WAIT = 30
"""Seconds to wait for a killed container to be reported as exited."""

OUT_DIR = ".memo-out"
"""With ``output=file``: the folder, inside the tree on the host, that holds the script's stdout."""
OUT_MOUNT = "/memo-out"
REDIRECT = (
    "import os, sys\n"
    "fd = os.open('/memo-out/stdout', os.O_WRONLY | os.O_TRUNC)\n"
    "os.dup2(fd, 1)\n"
    "os.close(fd)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)
"""With ``output=file``: point fd 1 at the mounted file, then exec the command it wraps."""
LAUNCHER_MOUNT = "/memo/launcher.py"
"""Where the run-time guard's launcher (``guard/launcher.py``) is bind-mounted, read-only."""

_NETWORK_REACH = {
    "host": "every port listening on this host's loopback (the Prefect API, the runner's HTTP API, "
            "every database) and every address the host can reach",
    "bridge": "every address the engine's bridge routes to (the internet, the LAN, ports the host "
              "publishes)",
}

_ENGINE_ERRORS = (requests.exceptions.RequestException, docker.errors.DockerException, OSError)


def _version_tuple(text: str) -> tuple[int, int, int] | None:
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", str(text or "").strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def engine_problem(version: dict) -> str | None:
    """Why the engine that answered ``GET /version`` is unfit, or ``None``.

    Podman says so in ``Components`` (``Podman Engine``); anything else is
    taken as Docker Engine, which must be >= 24.0.7.
    """
    components = version.get("Components") or []
    podman = next((c for c in components if "podman" in str(c.get("Name", "")).lower()), None)
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
    components = version.get("Components") or []
    podman = next((c for c in components if "podman" in str(c.get("Name", "")).lower()), None)
    if podman is not None:
        return f"Podman {podman.get('Version') or version.get('Version')}"
    return f"Docker Engine {version.get('Version')}"


def _proc_start_time(pid: int) -> str | None:
    """The start time of a process (clock ticks since boot), to tell a reused pid apart."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces or parentheses: split after the last ')'.
    fields = data.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _pid_alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started:
        now = _proc_start_time(pid)
        if now is not None and now != started:
            return False  # the pid was reused by another process
    return True


def _make_readable(tree: Path) -> None:
    """Let the container's non-root user read the tree (dirs o+rx, files o+r).

    The tree is the runner's private temporary copy; keep its parent folder
    (``MEMO_WORK_DIR``) closed to other host users.
    """
    paths = [tree]
    for root, dirs, files in os.walk(tree):
        paths.extend(Path(root, d) for d in dirs)
        paths.extend(Path(root, f) for f in files)
    for path in paths:
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        want = st.st_mode | (0o005 if stat.S_ISDIR(st.st_mode) else 0o004)
        if want != st.st_mode:
            try:
                os.chmod(path, stat.S_IMODE(want))
            except OSError as exc:
                log.warning("cannot make %s readable for the container: %s", path, exc)


class _Stream:
    """The attach socket, read exactly, with a deadline."""

    def __init__(self, sock):
        self.io = sock
        self.raw = getattr(sock, "_sock", sock)
        self._recv_into = getattr(self.raw, "recv_into", None)

    def settimeout(self, seconds: float) -> None:
        self.raw.settimeout(seconds)

    def read_into(self, view: memoryview) -> int:
        if self._recv_into is not None:
            return self._recv_into(view)
        data = self.raw.recv(len(view))  # e.g. a paramiko channel (ssh://)
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        for closer in (
            lambda: self.raw.shutdown(socket.SHUT_RDWR),
            self.io.close,
            self.raw.close,
            lambda: getattr(self.io, "_response").close(),
        ):
            try:
                closer()
            except Exception:  # noqa: BLE001 - best effort; the container is removed anyway
                pass


class _Demux:
    """Demultiplexes the attach stream: stdout in CHUNK-sized writes, stderr to the tail.

    Each frame is an 8-byte header (stream id, 0 0 0, big-endian length) and its
    payload. stdout payloads are received straight into one CHUNK buffer, which
    is written out when full; stderr goes to a small buffer and the tail.
    """

    def __init__(self, stream: _Stream, deadline: float, stdout: BinaryIO, tail: StderrTail):
        self.stream = stream
        self.deadline = deadline
        self.stdout = stdout
        self.tail = tail
        self.view = memoryview(bytearray(CHUNK))
        self.fill = 0
        self.written = 0

    def run(self) -> None:
        try:
            self._frames()
        except BaseException:
            # A deadline or a broken stream: keep what arrived (the runner discards the
            # temporary export of a failed run); a write failure here changes nothing.
            try:
                self.flush()
            except ExportWriteError:
                pass
            raise
        self.flush()

    def flush(self) -> None:
        if self.fill:
            write_out(self.stdout, bytes(self.view[: self.fill]))
            self.written += self.fill
            self.fill = 0

    def _recv(self, into: memoryview) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Deadline
        self.stream.settimeout(remaining)
        try:
            return self.stream.read_into(into)
        except (TimeoutError, socket.timeout):
            raise _Deadline from None

    def _frames(self) -> None:
        header = bytearray(8)
        hview = memoryview(header)
        eview = memoryview(bytearray(65536))
        view = self.view
        while True:
            got = 0
            while got < 8:
                n = self._recv(hview[got:])
                if n == 0:
                    if got:
                        raise OSError("the attach stream ended inside a frame header")
                    return  # end of stream: the container has exited
                got += n
            size = int.from_bytes(header[4:8], "big")
            if header[0] == 2:  # stderr
                while size:
                    n = self._recv(eview[: min(size, len(eview))])
                    if n == 0:
                        raise OSError("the attach stream ended inside a frame")
                    self.tail.feed(bytes(eview[:n]))
                    size -= n
                continue
            while size:  # stdout (1; 0 would be stdin, never sent)
                if self.fill == CHUNK:
                    self.flush()
                n = self._recv(view[self.fill : self.fill + min(size, CHUNK - self.fill)])
                if n == 0:
                    raise OSError("the attach stream ended inside a frame")
                self.fill += n
                size -= n


class _Deadline(Exception):
    pass


class DockerSandbox:
    """Runs a script tree in a container through the Docker Engine API."""

    name = "docker"

    def __init__(self, settings):
        self.settings = settings
        self.container = settings.container
        self.image = settings.docker_image
        self.prefix = self.container.label_prefix
        kwargs = kwargs_from_env()
        if self.container.docker_host:
            kwargs["base_url"] = self.container.docker_host
            if not self.container.docker_host.startswith(("tcp://", "https://")):
                kwargs.pop("tls", None)
        kwargs.setdefault("base_url", "unix:///var/run/docker.sock")
        self._client_kwargs = kwargs
        self.endpoint = kwargs["base_url"]
        self._local = threading.local()
        self._engine_checked = False
        self._image_checked = False
        self._inflight: set[str] = set()
        self._lock = threading.Lock()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.pid_started = _proc_start_time(self.pid) or ""
        self.egress = self._egress_plan()

    def _egress_plan(self) -> EgressPlan | None:
        """What scripts may reach, checked again here (a Prefect block's settings are copied
        unvalidated); says loudly at every start when the allow-list does not apply.

        Raises:
            ConfigError: an allow-list that does not parse, or runner variables in
                ``MEMO_CONTAINER_ENVIRONMENT``.
        """
        c = self.container
        refused = forbidden_environment(c.environment)
        if refused:
            raise ConfigError(f"MEMO_CONTAINER_ENVIRONMENT: {', '.join(refused)} would carry the runner's "
                              "settings or secrets into containers; name them otherwise")
        try:
            plan = EgressPlan.for_container(c)
        except ValueError as exc:
            named = str(exc).startswith("MEMO_")  # else it is about an endpoint of the allow-list
            raise ConfigError(f"invalid setting {'' if named else 'MEMO_CONTAINER_ALLOW: '}{exc}") from None
        if c.network != "none":
            log.warning(
                "MEMO_CONTAINER_NETWORK=%s: scripts reach %s; MEMO_CONTAINER_ALLOW does not apply. "
                "Set MEMO_CONTAINER_NETWORK=none (the default) to let them reach only %s.",
                c.network, _NETWORK_REACH.get(c.network, f"whatever the network {c.network!r} routes to"),
                c.allow or "nothing",
            )
        elif plan is not None:
            log.info("scripts reach only %s (MEMO_CONTAINER_ALLOW), at most %d connections at once",
                     plan.describe(), plan.max_connections)
        return plan

    # --- the engine ------------------------------------------------------------------

    def _api(self) -> docker.APIClient:
        """One client per thread (tasks run in parallel threads)."""
        api = getattr(self._local, "api", None)
        if api is None:
            try:
                api = docker.APIClient(version=API_VERSION, timeout=CLIENT_TIMEOUT, **self._client_kwargs)
            except docker.errors.DockerException as exc:
                raise SandboxUnavailable(f"cannot use the container engine at {self.endpoint}: {exc}") from None
            if str(self.endpoint).startswith(("unix:", "http+unix:")):
                api.trust_env = False  # no proxy/netrc lookups per request on a local socket
            self._local.api = api
        return api

    def _unavailable(self, what: str, exc: BaseException) -> SandboxUnavailable:
        reason = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
        if isinstance(exc, requests.exceptions.ConnectionError) or (
            isinstance(exc, docker.errors.DockerException) and "Connection" in str(exc)
        ):
            return SandboxUnavailable(
                f"container engine unreachable at {self.endpoint} ({what}): {_short(self._socket_problem() or reason)}; "
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

    def _check_engine(self, api: docker.APIClient) -> None:
        if self._engine_checked:
            return
        try:
            version = api.version(api_version=False)
        except _ENGINE_ERRORS as exc:
            raise self._unavailable("version", exc) from None
        problem = engine_problem(version)
        if problem:
            raise SandboxUnavailable(problem)
        self._engine_checked = True

    def _image_missing(self, api: docker.APIClient) -> str | None:
        try:
            api.inspect_image(self.image)
        except docker.errors.ImageNotFound:
            return (
                f"image {self.image} is not on the container engine at {self.endpoint}: build it "
                f"(docker build -t {self.image} docker/; tests: docker/podman-up.sh) or set MEMO_DOCKER_IMAGE"
            )
        except _ENGINE_ERRORS as exc:
            raise self._unavailable("image inspect", exc) from None
        return None

    # --- the container ------------------------------------------------------------------

    def labels(self, job: SandboxJob) -> dict[str, str]:
        p = self.prefix
        labels = {
            f"{p}.managed-by": MANAGED_BY,
            f"{p}.runner-host": self.host,
            f"{p}.runner-pid": str(self.pid),
            f"{p}.runner-started": self.pid_started,
            f"{p}.created": f"{time.time():.0f}",
            f"{p}.timeout": f"{job.timeout:g}",
        }
        for key, value in job.labels.items():
            key = key if key.startswith(p + ".") else f"{p}.{key}"
            labels[key] = str(value)
        return labels

    def command(self, job: SandboxJob) -> list[str]:
        """The container's command: the script's own command inside the wrappers, in order.

        Each wrapper takes a command and returns one that runs it (``output=file``: point
        stdout at the mounted file; egress: the forwarder as PID 1, outermost).
        """
        command = self.script_command(job)
        for wrap in self.wrappers(job):
            command = wrap(command)
        return command

    def script_command(self, job: SandboxJob) -> list[str]:
        """``python3 main.py``, under the run-time guard's launcher when the job has a policy
        (the launcher then points stdout at the mounted file itself: one interpreter less)."""
        if job.runtime_policy is None:
            return ["python3", job.entry]
        from guard.runtime import launcher_command

        stdout_file = f"{OUT_MOUNT}/stdout" if self.container.output == "file" else None
        return launcher_command("python3", LAUNCHER_MOUNT, job.runtime_policy, self.container.scripts_mount,
                                job.entry, stdout_file=stdout_file, nonce=job.guard_nonce)

    def wrappers(self, job: SandboxJob) -> list[Callable[[list[str]], list[str]]]:
        wrappers: list[Callable[[list[str]], list[str]]] = []
        if self.container.output == "file" and job.runtime_policy is None:
            wrappers.append(lambda command: ["python3", "-c", REDIRECT, *command])
        if self.egress is not None:
            wrappers.append(self.egress.wrap)
        return wrappers

    def environment(self) -> dict[str, str]:
        env = {
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "LANG": "C.UTF-8",
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
        }
        env.update(self.container.environment)
        return env

    def create_kwargs(self, api: docker.APIClient, job: SandboxJob) -> dict:
        c = self.container
        entry = job.entry
        if entry.startswith("/") or ".." in Path(entry).parts:
            raise ValueError(f"entry must be a path inside the tree: {entry!r}")
        tree = Path(job.tree).resolve()
        mounts = [docker.types.Mount(c.scripts_mount, str(tree), type="bind", read_only=True)]
        if c.output == "file":
            # Only the one file is mounted writable: the script can create nothing else.
            mounts.append(
                docker.types.Mount(f"{OUT_MOUNT}/stdout", str(tree / OUT_DIR / "stdout"), type="bind", read_only=False)
            )
        if job.runtime_policy is not None:
            from guard.runtime import LAUNCHER

            mounts.append(docker.types.Mount(LAUNCHER_MOUNT, str(LAUNCHER), type="bind", read_only=True))
        extra_hosts = None
        if self.egress is not None:
            mounts += [docker.types.Mount(target, source, type="bind", read_only=True)
                       for target, source in self.egress.mounts()]
            extra_hosts = dict(self.egress.extra_hosts) or None
        host_config = api.create_host_config(
            mounts=mounts,
            network_mode=c.network,
            extra_hosts=extra_hosts,
            mem_limit=c.memory,
            memswap_limit=c.memory,
            nano_cpus=int(c.cpus * 1e9),
            pids_limit=c.pids_limit,
            read_only=c.read_only,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={c.tmpfs_size},mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            auto_remove=False,
        )
        return dict(
            image=self.image,
            command=self.command(job),
            name=job.name,
            user=c.user,
            working_dir=c.scripts_mount,
            environment=self.environment(),
            labels=self.labels(job),
            host_config=host_config,
            tty=False,
            stdin_open=False,
            detach=True,
        )

    def _create(self, api: docker.APIClient, job: SandboxJob) -> str:
        kwargs = self.create_kwargs(api, job)
        for attempt in (1, 2):
            try:
                return api.create_container(**kwargs)["Id"]
            except docker.errors.NotFound:  # the image went away since it was checked
                raise SandboxUnavailable(self._image_missing(api) or f"image {self.image} not found") from None
            except docker.errors.APIError as exc:
                if exc.status_code == 409 and attempt == 1 and self._remove_stale_namesake(api, job.name):
                    continue
                raise self._unavailable("create", exc) from None
            except _ENGINE_ERRORS as exc:
                raise self._unavailable("create", exc) from None
        raise AssertionError("unreachable")

    def _remove_stale_namesake(self, api: docker.APIClient, name: str) -> bool:
        """A container with this run's name exists: remove it if it is one of ours and orphaned."""
        try:
            info = api.inspect_container(name)
        except _ENGINE_ERRORS:
            return False
        labels = (info.get("Config") or {}).get("Labels") or {}
        if labels.get(f"{self.prefix}.managed-by") != MANAGED_BY or not self._is_orphan(info["Id"], labels):
            return False
        self._remove(api, info["Id"])
        return True

    def _kill(self, api: docker.APIClient, cid: str) -> None:
        try:
            api.kill(cid)
        except docker.errors.NotFound:
            pass
        except _ENGINE_ERRORS as exc:  # usually "not running": it ended by itself
            log.debug("kill %s: %s", cid[:12], exc)

    def _remove(self, api: docker.APIClient, cid: str) -> None:
        try:
            api.remove_container(cid, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except _ENGINE_ERRORS as exc:
            log.warning("could not remove container %s (removed at the next start): %s", cid[:12], exc)

    # --- the run ------------------------------------------------------------------

    def run(self, job: SandboxJob, stdout: BinaryIO) -> SandboxResult:
        api = self._api()
        self._check_engine(api)
        if not self._image_checked:  # once; later a missing image fails the create (below)
            missing = self._image_missing(api)
            if missing:
                raise SandboxUnavailable(missing)
            self._image_checked = True
        _make_readable(Path(job.tree))
        relay = self._open_egress(job)
        try:
            return self._run_container(api, job, stdout)
        finally:
            if relay is not None:
                relay.close()  # after the container is gone: nothing can use it any more

    def _open_egress(self, job: SandboxJob) -> EgressRelay | None:
        """The run's relay of the allowed endpoints, accepting before the container starts."""
        if self.egress is None:
            return None
        unreadable = self._forwarder_unreadable()
        if unreadable:
            raise SandboxUnavailable(unreadable)
        try:
            relay = EgressRelay.create(self.egress, Path(job.tree), job.name)
        except OSError as exc:
            raise SandboxUnavailable(
                f"cannot make the egress sockets in {Path(job.tree) / NET_DIR}: {exc.strerror or exc}"
            ) from None
        relay.start()
        return relay

    def _run_container(self, api: docker.APIClient, job: SandboxJob, stdout: BinaryIO) -> SandboxResult:
        out_dir = self._prepare_out_dir(Path(job.tree)) if self.container.output == "file" else None
        tail = StderrTail(job.name, limit=self.settings.stderr_tail)

        cid = self._create(api, job)
        with self._lock:
            self._inflight.add(cid)
        log.debug("container %s (%s) created", job.name, cid[:12])
        stream = None
        timed_out = False
        started = time.monotonic()
        try:
            try:
                stream = _Stream(
                    api.attach_socket(cid, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 1})
                )
                api.start(cid)
            except _ENGINE_ERRORS as exc:
                raise self._unavailable("start", exc) from None
            started = time.monotonic()
            deadline = started + job.timeout
            demux = _Demux(stream, deadline, stdout, tail)
            try:
                # STOP.abandon (the runner's process is stopping) kills it: the stream ends
                with STOP.while_running(lambda: self._kill(api, cid)):
                    demux.run()
            except _Deadline:
                timed_out = True
                # Close the stream before the kill: an engine blocked writing to an attach
                # client that no longer reads cannot reap the container (Podman: the kill
                # then times out waiting for the exit file).
                stream.close()
                self._kill(api, cid)
            except ExportWriteError:
                stream.close()
                self._kill(api, cid)
                raise
            except (TimeoutError, OSError) as exc:
                # The engine went away mid-run; what reached the export is incomplete.
                stream.close()
                self._kill(api, cid)
                raise self._unavailable("reading output", exc) from None

            exit_code, timed_out, state = self._exit_status(api, cid, deadline, timed_out)
            duration = time.monotonic() - started
            detail = self._detail(api, cid, exit_code, timed_out, job, state)
            if out_dir is not None:
                self._remove(api, cid)  # nothing writes the file any more
                demux.written += _copy_out(out_dir / "stdout", stdout)
        finally:
            if stream is not None:
                stream.close()
            self._remove(api, cid)
            with self._lock:
                self._inflight.discard(cid)
            if out_dir is not None:
                shutil.rmtree(out_dir, ignore_errors=True)

        return SandboxResult(
            exit_code=None if timed_out else exit_code,  # as the process sandbox: a kill has no code
            timed_out=timed_out,
            stderr_tail=tail.text(),
            duration=duration,
            bytes_out=demux.written,
            detail=detail,
        )

    def _exit_status(self, api: docker.APIClient, cid: str, deadline: float,
                     timed_out: bool) -> tuple[int | None, bool, dict | None]:
        """(exit code, timed out, State) once the stream has ended or the deadline passed."""
        state = None if timed_out else self._exited_state(api, cid)
        if state is not None:
            return int(state.get("ExitCode", -1)), timed_out, state
        exit_code = self._wait(api, cid, deadline, timed_out)
        if exit_code is None:  # still running past the deadline (stream ended early)
            timed_out = True
            self._kill(api, cid)
            exit_code = self._wait(api, cid, time.monotonic() + KILL_WAIT, True)
        return exit_code, timed_out, state

    def _prepare_out_dir(self, tree: Path) -> Path:
        """``<tree>/.memo-out/stdout``, an empty file that only the container's user may write."""
        out_dir = tree / OUT_DIR
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(mode=0o755)
        target = out_dir / "stdout"
        target.touch(mode=0o600)
        uid, _, gid = self.container.user.partition(":")
        try:
            os.chown(target, int(uid), int(gid or uid))
        except (ValueError, PermissionError):
            # A named user, or a runner that is not root: let anyone write it (the work dir,
            # MEMO_WORK_DIR, keeps other host users out).
            os.chmod(target, 0o666)
        return out_dir

    def _wait(self, api: docker.APIClient, cid: str, deadline: float, timed_out: bool) -> int | None:
        timeout = max(deadline - time.monotonic(), 0) + (KILL_WAIT if timed_out else 5)
        try:
            return int(api.wait(cid, timeout=timeout)["StatusCode"])
        except requests.exceptions.ReadTimeout:
            return None
        except requests.exceptions.ConnectionError as exc:
            if "timed out" in str(exc).lower():
                return None
            raise self._unavailable("wait", exc) from None
        except _ENGINE_ERRORS as exc:
            raise self._unavailable("wait", exc) from None

    def _exited_state(self, api: docker.APIClient, cid: str) -> dict | None:
        """The container's State once the engine reports it exited (the stream has ended).

        Polling inspect for a short while is much quicker than ``wait`` on Podman,
        whose wait lags the exit by 0.3-0.5 s; ``None`` if it is not seen exited
        soon, and ``wait`` decides.
        """
        give_up = time.monotonic() + EXIT_POLL
        pause = 0.005
        while True:
            try:
                state = api.inspect_container(cid).get("State") or {}
            except _ENGINE_ERRORS:
                return None
            if state.get("Status") in ("exited", "stopped", "dead") and state.get("ExitCode") is not None:
                return state
            if time.monotonic() + pause > give_up:
                return None
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _detail(self, api, cid: str, exit_code: int | None, timed_out: bool, job: SandboxJob,
                state: dict | None = None) -> str:
        if timed_out:
            return f"killed: timed out after {job.timeout:g} s"
        if state is None:
            try:
                state = api.inspect_container(cid).get("State") or {}
            except _ENGINE_ERRORS:
                state = {}
        oom = bool(state.get("OOMKilled"))
        if oom:
            return f"killed: out of memory (limit {self.container.memory})"
        if exit_code == 137:
            return f"killed (SIGKILL): most likely out of memory (limit {self.container.memory})"
        if exit_code is not None and exit_code > 128:
            return f"killed by signal {exit_code - 128}"
        return ""

    # --- for doctor and the runner's start -------------------------------------------

    def checks(self) -> list[Check]:
        """For ``doctor``: the engine and its version, the image, the scripts' network, each
        with what was found; what needs the engine is not checked when it does not answer."""
        engine, api = self._engine_check()
        if api is None:
            image = Check("image", not_checked=f"{self.image}: the container engine does not answer")
        else:
            image = self._image_check(api)
        return [engine, image, self._network_check(api)]

    def problems(self) -> list[str]:
        return [problem for check in self.checks() for problem in check.problems]

    def _engine_check(self) -> tuple[Check, docker.APIClient | None]:
        """The engine's check, and the client when the engine answers."""
        named_by = ("MEMO_CONTAINER_DOCKER_HOST" if self.container.docker_host else
                    "DOCKER_HOST" if os.environ.get("DOCKER_HOST") else
                    "neither MEMO_CONTAINER_DOCKER_HOST nor DOCKER_HOST: the default socket")
        try:
            api = self._api()
            version = api.version(api_version=False)
        except SandboxUnavailable as exc:
            return Check("container engine", [f"{exc.message} (the endpoint is from {named_by})"]), None
        except _ENGINE_ERRORS as exc:
            message = self._unavailable("version", exc).message
            return Check("container engine", [f"{message} (the endpoint is from {named_by})"]), None
        problem = engine_problem(version)
        if problem:
            return Check("container engine", [f"{problem} (at {self.endpoint})"]), api
        return Check("container engine", found=(
            f"{engine_name(version)} at {self.endpoint} (from {named_by}), Docker API "
            f"{version.get('ApiVersion')}: new enough (Podman 4.0+, Docker Engine 24.0.7+)")), api

    def _image_check(self, api: docker.APIClient) -> Check:
        try:
            missing = self._image_missing(api)
        except SandboxUnavailable as exc:
            missing = exc.message
        return Check("image", [missing]) if missing else Check("image", found=f"{self.image} is on the engine")

    def _network_check(self, api: docker.APIClient | None) -> Check:
        """The allow-list's endpoints resolve and its forwarder is readable; a named network exists."""
        problems = self._egress_problems()
        network = self.container.network
        if api is not None and network not in ("host", "none", "bridge", "default") \
                and not network.startswith("container:"):
            try:
                api.inspect_network(network)
            except docker.errors.NotFound:
                problems.append(f"network {network!r} (MEMO_CONTAINER_NETWORK) does not exist on the engine")
            except _ENGINE_ERRORS:
                pass
        if network != "none":
            return Check("container network", problems, found=f"MEMO_CONTAINER_NETWORK={network}")
        reach = self.egress.describe() if self.egress else "nothing"
        return Check("container network", problems, found=f"none: scripts reach only {reach} (MEMO_CONTAINER_ALLOW)")

    def _egress_problems(self) -> list[str]:
        """Allowed endpoints this host cannot resolve, and a forwarder the container cannot read."""
        if self.egress is None:
            return []
        found = []
        forwarder = self._forwarder_unreadable()
        if forwarder:
            found.append(forwarder)
        for listener in self.egress.listeners:
            endpoint = listener.endpoint
            if endpoint.is_literal:
                continue
            try:
                socket.getaddrinfo(endpoint.host, endpoint.port, 0, socket.SOCK_STREAM)
            except OSError as exc:
                found.append(f"MEMO_CONTAINER_ALLOW: {endpoint.host} does not resolve on this host "
                             f"({exc.strerror or exc}); scripts connecting to {endpoint.label} will fail")
        return found

    def _forwarder_unreadable(self) -> str | None:
        try:
            readable = bool(FORWARDER.stat().st_mode & 0o004)
        except OSError as exc:
            return f"the egress forwarder {FORWARDER} is missing: {exc.strerror or exc}"
        if not readable:
            return (f"the egress forwarder {FORWARDER} is not readable by the container's user: "
                    f"chmod o+r {FORWARDER}")
        return None

    def _is_orphan(self, cid: str, labels: dict[str, str]) -> bool:
        p = self.prefix
        with self._lock:
            if cid in self._inflight:
                return False
        host = labels.get(f"{p}.runner-host")
        try:
            pid = int(labels.get(f"{p}.runner-pid", ""))
        except ValueError:
            pid = None
        started = labels.get(f"{p}.runner-started") or None
        if host == self.host and pid is not None:
            if pid == self.pid and started == self.pid_started:
                return True  # ours but not running any more: a remove that failed
            return not _pid_alive(pid, started)
        # Another host's runner (shared engine): orphaned once well past its deadline,
        # since a live runner kills its container at the deadline.
        try:
            created = float(labels.get(f"{p}.created", ""))
            timeout = float(labels.get(f"{p}.timeout", ""))
        except ValueError:
            return False
        return time.time() > created + timeout + ORPHAN_GRACE

    def remove_orphans(self) -> int:
        """Remove containers of runners that died (this host), or long past their deadline (others)."""
        try:
            api = self._api()
            found = api.containers(all=True, filters={"label": f"{self.prefix}.managed-by={MANAGED_BY}"})
        except _ENGINE_ERRORS as exc:
            log.warning("cannot look for orphaned containers: %s",
                        self._unavailable("listing containers", exc).message)
            return 0
        removed = 0
        for info in found:
            labels = info.get("Labels") or {}
            if self._is_orphan(info["Id"], labels):
                name = (info.get("Names") or [info["Id"][:12]])[0].lstrip("/")
                log.warning("removing orphaned container %s (runner pid %s on %s)", name,
                            labels.get(f"{self.prefix}.runner-pid"), labels.get(f"{self.prefix}.runner-host"))
                self._remove(api, info["Id"])
                removed += 1
        return removed


def _copy_out(path: Path, stdout: BinaryIO) -> int:
    """Copy the script's stdout file into the export in CHUNK pieces; a missing file is empty."""
    copied = 0
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return 0
    with f:
        while chunk := f.read(CHUNK):
            write_out(stdout, chunk)
            copied += len(chunk)
    return copied


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
