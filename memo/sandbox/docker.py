"""The ``docker`` sandbox: each script in a fresh, locked-down container.

Works against Docker Engine >= 24.0.7 and, through the same API, Podman >= 4
(``podman system service``). Only the ``docker`` SDK is used; no Prefect import,
so building a sandbox stays cheap.

This module is the container's lifecycle, in the order of a run: inspect the image
(a missing one is an error at once, never a pull), create the container (not
auto-removed, so the exit code is never lost), **attach before start** (an attach
made later, or following the logs, can lose output: ``attach``), start, collect the
attach stream until the container ends or the task's deadline passes (then kill),
read the exit code and the OOM flag (inspect, falling back to ``wait``), and always
destroy the container. What it is created with is ``container_spec``; the engine,
its endpoint and version rules ``engine``; ``doctor``'s checks ``health``; the
sweep of containers that dead runners left ``orphans``; ``MEMO_CONTAINER_OUTPUT=file``
(stdout through one mounted host file) ``output_file``.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import docker
import docker.errors
import requests.exceptions

from memo.errors import ExportWriteError, SandboxUnavailable
from memo.sandbox import health
from memo.sandbox.attach import AttachStream, Deadline, Demux
from memo.sandbox.base import STDERR_TAIL, Check, SandboxJob, SandboxResult, StderrTail
from memo.sandbox.container_spec import ContainerSpec, egress_plan, make_readable
from memo.sandbox.egress import NET_DIR, EgressRelay
from memo.sandbox.engine import ENGINE_ERRORS, Engine, docker_host
from memo.sandbox.orphans import MANAGED_BY, Orphans, Owner
from memo.sandbox.output_file import copy_out, prepare_out_dir
from memo.stopping import STOP

if TYPE_CHECKING:
    from memo.settings import ContainerSettings

log = logging.getLogger("memo.sandbox.docker")

EXIT_POLL = 2.0
"""Seconds to poll inspect for the exit state after the stream ended, before falling back to wait."""
KILL_WAIT = 30
"""Seconds to wait for a killed container to be reported as exited."""


class DockerSandbox:
    """Runs a script tree in a container through the Docker Engine API."""

    name = "docker"

    def __init__(self, container: ContainerSettings, image: str, *, stderr_tail: int = STDERR_TAIL):
        """Args:
            container: how each container is shaped and where the engine is
                (``MEMO_CONTAINER_*``; a Prefect block's copy is the same type).
            image: the script image; it must have ``python3``, nothing else of ours.
            stderr_tail: characters of a script's stderr kept for its runlog row.
        """
        self.container = container
        self.image = image
        self.stderr_tail = stderr_tail
        self.engine = Engine(docker_host(self.container.docker_host), timeout=self.container.docker_timeout)
        self._image_checked = False
        owner = Owner.this_process()
        self.orphans = Orphans(self.container.label_prefix, owner)
        self.egress = egress_plan(self.container)
        self.spec = ContainerSpec(self.container, self.image, self.egress, owner)

    # --- the run ------------------------------------------------------------------

    def run(self, job: SandboxJob, stdout: BinaryIO) -> SandboxResult:
        api = self.engine.client()
        self.engine.check(api)
        if not self._image_checked:  # once; later a missing image fails the create (below)
            missing = health.image_missing(self.engine, api, self.image)
            if missing:
                raise SandboxUnavailable(missing)
            self._image_checked = True
        make_readable(Path(job.tree))
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
        unreadable = health.forwarder_unreadable()
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
        out_dir = prepare_out_dir(Path(job.tree), self.container.user) if self.container.output == "file" else None
        tail = StderrTail(job, limit=self.stderr_tail)

        cid = self._create(api, job)
        self.orphans.running(cid)
        log.debug("container %s (%s) created", job.name, cid[:12])
        stream = None
        try:
            stream = self._attach(api, cid)
            self._start(api, cid)
            started = time.monotonic()
            deadline = started + job.timeout
            demux = Demux(stream, deadline, stdout, tail)
            timed_out = self._collect(api, cid, stream, demux)
            exit_code, timed_out, state = self._exit_status(api, cid, deadline, timed_out)
            duration = time.monotonic() - started
            detail = self._detail(api, cid, exit_code, timed_out, job, state)
            if out_dir is not None:
                self._remove(api, cid)  # nothing writes the file any more
                demux.written += copy_out(out_dir / "stdout", stdout)
        finally:
            self._destroy(api, cid, stream, out_dir)

        return SandboxResult(
            exit_code=None if timed_out else exit_code,  # as the process sandbox: a kill has no code
            timed_out=timed_out,
            stderr_tail=tail.text(),
            duration=duration,
            bytes_out=demux.written,
            detail=detail,
        )

    # --- the container's lifecycle ------------------------------------------------------

    def _create(self, api: docker.APIClient, job: SandboxJob) -> str:
        kwargs = self.spec.create_kwargs(api, job)
        for attempt in (1, 2):
            try:
                return api.create_container(**kwargs)["Id"]
            except docker.errors.NotFound:  # the image went away since it was checked
                missing = health.image_missing(self.engine, api, self.image)
                raise SandboxUnavailable(missing or f"image {self.image} not found") from None
            except docker.errors.APIError as exc:
                if exc.status_code == 409 and attempt == 1 and self._remove_stale_namesake(api, job.name):
                    continue
                raise self.engine.unavailable("create", exc) from None
            except ENGINE_ERRORS as exc:
                raise self.engine.unavailable("create", exc) from None
        raise AssertionError("unreachable")

    def _remove_stale_namesake(self, api: docker.APIClient, name: str) -> bool:
        """A container with this run's name exists: remove it if it is one of ours and orphaned."""
        try:
            info = api.inspect_container(name)
        except ENGINE_ERRORS:
            return False
        labels = (info.get("Config") or {}).get("Labels") or {}
        if labels.get(f"{self.orphans.prefix}.managed-by") != MANAGED_BY \
                or not self.orphans.is_orphan(info["Id"], labels):
            return False
        self._remove(api, info["Id"])
        return True

    def _attach(self, api: docker.APIClient, cid: str) -> AttachStream:
        """Before the start, so that the stream misses nothing."""
        try:
            return AttachStream.open(api, cid)
        except ENGINE_ERRORS as exc:
            raise self.engine.unavailable("start", exc) from None

    def _start(self, api: docker.APIClient, cid: str) -> None:
        try:
            api.start(cid)
        except ENGINE_ERRORS as exc:
            raise self.engine.unavailable("start", exc) from None

    def _collect(self, api: docker.APIClient, cid: str, stream: AttachStream, demux: Demux) -> bool:
        """Read the stream into the export and the tail until it ends; whether the deadline
        passed first (the container is then killed)."""
        try:
            # STOP.abandon (the runner's process is stopping) kills it: the stream ends
            with STOP.while_running(lambda: self._kill(api, cid)):
                demux.run()
        except Deadline:
            # Close the stream before the kill: an engine blocked writing to an attach
            # client that no longer reads cannot reap the container (Podman: the kill
            # then times out waiting for the exit file).
            stream.close()
            self._kill(api, cid)
            return True
        except ExportWriteError:
            stream.close()
            self._kill(api, cid)
            raise
        except (TimeoutError, OSError) as exc:
            # The engine went away mid-run; what reached the export is incomplete.
            stream.close()
            self._kill(api, cid)
            raise self.engine.unavailable("reading output", exc) from None
        return False

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
            except ENGINE_ERRORS:
                return None
            if state.get("Status") in ("exited", "stopped", "dead") and state.get("ExitCode") is not None:
                return state
            if time.monotonic() + pause > give_up:
                return None
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _wait(self, api: docker.APIClient, cid: str, deadline: float, timed_out: bool) -> int | None:
        timeout = max(deadline - time.monotonic(), 0) + (KILL_WAIT if timed_out else 5)
        try:
            return int(api.wait(cid, timeout=timeout)["StatusCode"])
        except requests.exceptions.ReadTimeout:
            return None
        except requests.exceptions.ConnectionError as exc:
            if "timed out" in str(exc).lower():
                return None
            raise self.engine.unavailable("wait", exc) from None
        except ENGINE_ERRORS as exc:
            raise self.engine.unavailable("wait", exc) from None

    def _detail(self, api, cid: str, exit_code: int | None, timed_out: bool, job: SandboxJob,
                state: dict | None = None) -> str:
        if timed_out:
            return f"killed: timed out after {job.timeout:g} s"
        if state is None:
            try:
                state = api.inspect_container(cid).get("State") or {}
            except ENGINE_ERRORS:
                state = {}
        oom = bool(state.get("OOMKilled"))
        if oom:
            return f"killed: out of memory (limit {self.container.memory})"
        if exit_code == 137:
            return f"killed (SIGKILL): most likely out of memory (limit {self.container.memory})"
        if exit_code is not None and exit_code > 128:
            return f"killed by signal {exit_code - 128}"
        return ""

    def _kill(self, api: docker.APIClient, cid: str) -> None:
        try:
            api.kill(cid)
        except docker.errors.NotFound:
            pass
        except ENGINE_ERRORS as exc:  # usually "not running": it ended by itself
            log.debug("kill %s: %s", cid[:12], exc)

    def _destroy(self, api: docker.APIClient, cid: str, stream: AttachStream | None,
                 out_dir: Path | None) -> None:
        """Whatever happened: the stream closed, the container removed, its output file gone."""
        if stream is not None:
            stream.close()
        self._remove(api, cid)
        self.orphans.done(cid)
        if out_dir is not None:
            shutil.rmtree(out_dir, ignore_errors=True)

    def _remove(self, api: docker.APIClient, cid: str) -> None:
        try:
            api.remove_container(cid, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except ENGINE_ERRORS as exc:
            log.warning("could not remove container %s (removed at the next start): %s", cid[:12], exc)

    # --- for doctor and the runner's start -------------------------------------------

    def checks(self) -> list[Check]:
        """For ``doctor``: the engine and its version, the image, the scripts' network, each
        with what was found; what needs the engine is not checked when it does not answer."""
        return health.checks(self.engine, self.image, self.container.network, self.egress)

    def problems(self) -> list[str]:
        return [problem for check in self.checks() for problem in check.problems]

    def remove_orphans(self) -> int:
        """Remove containers of runners that died (this host), or long past their deadline (others)."""
        return self.orphans.remove_all(self.engine, self._remove)
