"""The orphan sweep: containers left behind by a runner that died mid-run.

A container is never auto-removed (the exit code would be lost), so a runner that dies
leaves its container. Each container's labels name the runner process that created it:
host, pid and that pid's start time, since a pid is reused (read from ``/proc``). At the
runner's start, and when a new container's name is taken, a container of this host whose
runner is gone is removed; one of another host's runner (a shared engine) cannot be
checked that way, and is an orphan once well past its deadline, since a live runner
kills its container at the deadline.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import docker

from memo.sandbox.engine import ENGINE_ERRORS, Engine

log = logging.getLogger("memo.sandbox.docker")  # the docker sandbox's one logger

MANAGED_BY = "memo-taskrunner"
"""The value of a container's ``<prefix>.managed-by`` label: ours to sweep."""
ORPHAN_GRACE = 300.0
"""Seconds past its deadline after which a container of another host's runner is an orphan."""


def proc_start_time(pid: int) -> str | None:
    """The start time of a process (clock ticks since boot), to tell a reused pid apart."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces or parentheses: split after the last ')'.
    fields = data.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started:
        now = proc_start_time(pid)
        if now is not None and now != started:
            return False  # the pid was reused by another process
    return True


@dataclass(frozen=True)
class Owner:
    """The runner process that creates containers, as their labels name it."""

    host: str
    pid: int
    started: str
    """The pid's start time (``proc_start_time``), ``""`` when unknown."""

    @classmethod
    def this_process(cls) -> Owner:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, proc_start_time(pid) or "")


class Orphans:
    """Which managed containers are orphans; this runner's containers in flight never are."""

    def __init__(self, prefix: str, owner: Owner):
        self.prefix = prefix
        self.owner = owner
        self._inflight: set[str] = set()
        self._lock = threading.Lock()

    def running(self, cid: str) -> None:
        with self._lock:
            self._inflight.add(cid)

    def done(self, cid: str) -> None:
        with self._lock:
            self._inflight.discard(cid)

    def is_orphan(self, cid: str, labels: dict[str, str]) -> bool:
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
        if host == self.owner.host and pid is not None:
            if pid == self.owner.pid and started == self.owner.started:
                return True  # ours but not running any more: a remove that failed
            return not pid_alive(pid, started)
        # Another host's runner (shared engine): orphaned once well past its deadline,
        # since a live runner kills its container at the deadline.
        try:
            created = float(labels.get(f"{p}.created", ""))
            timeout = float(labels.get(f"{p}.timeout", ""))
        except ValueError:
            return False
        return time.time() > created + timeout + ORPHAN_GRACE

    def remove_all(self, engine: Engine, remove: Callable[[docker.APIClient, str], None]) -> int:
        """Remove (with the sandbox's ``remove``) containers of runners that died (this host),
        or long past their deadline (others); how many."""
        try:
            api = engine.client()
            found = api.containers(all=True, filters={"label": f"{self.prefix}.managed-by={MANAGED_BY}"})
        except ENGINE_ERRORS as exc:
            log.warning("cannot look for orphaned containers: %s",
                        engine.unavailable("listing containers", exc).message)
            return 0
        removed = 0
        for info in found:
            labels = info.get("Labels") or {}
            if self.is_orphan(info["Id"], labels):
                name = (info.get("Names") or [info["Id"][:12]])[0].lstrip("/")
                log.warning("removing orphaned container %s (runner pid %s on %s)", name,
                            labels.get(f"{self.prefix}.runner-pid"), labels.get(f"{self.prefix}.runner-host"))
                remove(api, info["Id"])
                removed += 1
        return removed
