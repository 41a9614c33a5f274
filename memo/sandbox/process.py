"""The ``process`` sandbox: a plain child process on this host. It isolates NOTHING.

For the demo and for machines without a container engine. What it does give:
a scrubbed environment (no runner secrets), the tree as working directory, its
own process group killed whole at the timeout, stdout streamed to the export in
chunks (memory stays flat), stderr kept apart.
"""

from __future__ import annotations

import logging
import fcntl
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from typing import BinaryIO, Mapping

from memo.errors import SandboxUnavailable
from memo.sandbox.base import CHUNK, STDERR_TAIL, Check, SandboxJob, SandboxResult, StderrTail, write_out
from memo.stopping import STOP

log = logging.getLogger("memo.sandbox.process")

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


class ProcessSandbox:
    name = "process"
    poll_seconds = 0.5
    """How often a quiet script is checked for having ended."""

    def __init__(self, environment: Mapping[str, str] | None = None, *, stderr_tail: int = STDERR_TAIL):
        """Args:
            environment: extra variables for scripts (``MEMO_CONTAINER_ENVIRONMENT``,
                checked there to name none of the runner's own).
            stderr_tail: characters of stderr kept for the runlog row (twice as many
                are read: no container log driver trims them first).
        """
        self.stderr_tail = stderr_tail
        self.python = sys.executable
        self.environment = dict(environment or {})
        log.warning(
            "MEMO_SANDBOX=process: scripts run as plain processes of user %s on this host. "
            "This isolates NOTHING (files, network, processes); use MEMO_SANDBOX=docker in production.",
            os.getuid(),
        )

    def _env(self, job: SandboxJob) -> dict[str, str]:
        env = {
            "PATH": SAFE_PATH,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "HOME": str(job.tree),
            "TMPDIR": "/tmp",
        }
        env.update(self.environment)
        return env

    def command(self, job: SandboxJob) -> list[str]:
        """``python main.py``, under the run-time guard when the job has a policy."""
        if job.runtime_policy is None:
            return [self.python, job.entry]
        from guard.runtime import LAUNCHER, launcher_command

        return launcher_command(self.python, str(LAUNCHER), job.runtime_policy, str(job.tree), job.entry,
                                nonce=job.guard_nonce)

    def run(self, job: SandboxJob, stdout: BinaryIO) -> SandboxResult:
        tail = StderrTail(job, limit=self.stderr_tail * 2)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                self.command(job),
                cwd=job.tree,
                env=self._env(job),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise SandboxUnavailable(f"cannot start {self.python}: {exc.strerror}") from None

        def kill_group() -> None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

        err_thread = threading.Thread(target=_pump, args=(proc.stderr, tail.feed), daemon=True)
        err_thread.start()
        out_fd = proc.stdout.fileno()
        _grow_pipe(out_fd)
        deadline = started + job.timeout
        buffer = bytearray(CHUNK)  # one buffer, reused: memory stays flat at any output size
        view = memoryview(buffer)
        timed_out = exited = False
        written = 0
        try:
            # STOP.abandon (the runner's process is stopping) kills the group: the pipe ends
            with STOP.while_running(kill_group), selectors.DefaultSelector() as selector:
                selector.register(out_fd, selectors.EVENT_READ)
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        timed_out = True
                        break
                    wait = 0 if exited else min(remaining, self.poll_seconds)
                    if selector.select(timeout=wait):
                        size = os.readv(out_fd, [buffer])
                        if not size:
                            break
                        write_out(stdout, view[:size])
                        written += size
                    elif exited:
                        break  # it ended and the pipe is empty; a descendant may still hold it open
                    elif self._ended(proc):
                        exited = True  # it may have written just before ending: drain the pipe first
        finally:
            kill_group()  # on timeout, on error, and to end anything the script left running
            proc.wait()
            err_thread.join(timeout=5)
            proc.stdout.close()
            proc.stderr.close()
        return SandboxResult(
            exit_code=None if timed_out else proc.returncode,
            timed_out=timed_out,
            stderr_tail=tail.text(),
            duration=time.monotonic() - started,
            bytes_out=written,
        )

    def _ended(self, proc: subprocess.Popen) -> bool:
        return proc.poll() is not None

    def checks(self) -> list[Check]:
        if not os.access(self.python, os.X_OK):
            return [Check("sandbox (process)", [f"python interpreter {self.python} is not executable"])]
        return [Check("sandbox (process)", found=f"scripts run as {self.python} on this host, in no container")]

    def problems(self) -> list[str]:
        return [problem for check in self.checks() for problem in check.problems]

    def remove_orphans(self) -> int:
        return 0


def _pump(stream, sink) -> None:
    while data := stream.read1(CHUNK):
        sink(data)


def _grow_pipe(fd: int) -> None:
    """A 1 MiB pipe instead of 64 KiB: fewer wake-ups per MB of output."""
    try:
        fcntl.fcntl(fd, 1031, CHUNK)  # F_SETPIPE_SZ
    except OSError:
        pass
