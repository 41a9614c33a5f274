"""What a script's container is created with: command, environment, mounts, limits, labels.

Everything that locks a container down is decided here, from the settings alone, so it
can be read (and tested: ``create_kwargs``) apart from running anything: the tree
mounted read-only, no capability, no new privileges, a read-only root with a small
``/tmp``, memory/CPU/pids limits, the runner's environment kept out, the network
(``none`` with the egress relay of ``MEMO_CONTAINER_ALLOW`` by default), and labels
naming the runner that created it (for the orphan sweep).
"""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path
from typing import Callable

import docker
import docker.types

from memo.errors import ConfigError
from memo.sandbox.base import SandboxJob
from memo.sandbox.egress import EgressPlan, forbidden_environment
from memo.sandbox.orphans import MANAGED_BY, Owner
from memo.sandbox.output_file import OUT_DIR, OUT_MOUNT, REDIRECT

log = logging.getLogger("memo.sandbox.docker")  # the docker sandbox's one logger

LAUNCHER_MOUNT = "/memo/launcher.py"
"""Where the run-time guard's launcher (``guard/launcher.py``) is bind-mounted, read-only."""

_NETWORK_REACH = {
    "host": "every port listening on this host's loopback (the Prefect API, the runner's HTTP API, "
            "every database) and every address the host can reach",
    "bridge": "every address the engine's bridge routes to (the internet, the LAN, ports the host "
              "publishes)",
}


def egress_plan(c) -> EgressPlan | None:
    """What scripts may reach, checked again here (a Prefect block's settings are copied
    unvalidated); says loudly at every start when the allow-list does not apply.

    Raises:
        ConfigError: an allow-list that does not parse, or runner variables in
            ``MEMO_CONTAINER_ENVIRONMENT``.
    """
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


def make_readable(tree: Path) -> None:
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


class ContainerSpec:
    """The ``create_container`` arguments of a job, from the container settings."""

    def __init__(self, container, image: str, egress: EgressPlan | None, owner: Owner):
        self.container = container
        self.image = image
        self.egress = egress
        self.owner = owner
        self.prefix = container.label_prefix

    def labels(self, job: SandboxJob) -> dict[str, str]:
        p = self.prefix
        labels = {
            f"{p}.managed-by": MANAGED_BY,
            f"{p}.runner-host": self.owner.host,
            f"{p}.runner-pid": str(self.owner.pid),
            f"{p}.runner-started": self.owner.started,
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

    def mounts(self, job: SandboxJob) -> list[docker.types.Mount]:
        """The tree read-only; with ``output=file`` the one writable file; the guard's launcher
        and the egress forwarder read-only when used."""
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
        if self.egress is not None:
            mounts += [docker.types.Mount(target, source, type="bind", read_only=True)
                       for target, source in self.egress.mounts()]
        return mounts

    def create_kwargs(self, api: docker.APIClient, job: SandboxJob) -> dict:
        c = self.container
        mounts = self.mounts(job)
        extra_hosts = (dict(self.egress.extra_hosts) or None) if self.egress is not None else None
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
