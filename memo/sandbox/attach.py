"""The attach stream: how a container's output reaches the export.

Why attach: following the logs (``logs(follow=True)``, ``containers.run()``)
drops data on Podman and on Docker < 24.0.7. An attach made **before the start**
receives every byte the script writes. The stream is read frame by frame from
the raw socket (8-byte header: stream id, length) straight into a 1 MiB
buffer, which is written to the export when full: memory stays flat whatever
the output size, and stdout/stderr are never mixed (no tty).
"""

from __future__ import annotations

import socket
import time
from typing import BinaryIO

import docker

from memo.errors import ExportWriteError
from memo.sandbox.base import CHUNK, StderrTail, write_out

class Deadline(Exception):
    """The task's deadline passed while the stream was read."""


class AttachStream:
    """The attach socket, read exactly, with a deadline."""

    def __init__(self, sock):
        self.io = sock
        self.raw = getattr(sock, "_sock", sock)
        self._recv_into = getattr(self.raw, "recv_into", None)

    @classmethod
    def open(cls, api: docker.APIClient, cid: str) -> AttachStream:
        """Attach to a created container's stdout and stderr (before its start: nothing is lost)."""
        return cls(api.attach_socket(cid, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 1}))

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


class Demux:
    """Demultiplexes the attach stream: stdout in CHUNK-sized writes, stderr to the tail.

    Each frame is an 8-byte header (stream id, 0 0 0, big-endian length) and its
    payload. stdout payloads are received straight into one CHUNK buffer, which
    is written out when full; stderr goes to a small buffer and the tail.
    """

    def __init__(self, stream: AttachStream, deadline: float, stdout: BinaryIO, tail: StderrTail):
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
            raise Deadline
        self.stream.settimeout(remaining)
        try:
            return self.stream.read_into(into)
        except (TimeoutError, socket.timeout):
            raise Deadline from None

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
            if header[0] != 1:  # stderr (2); anything else (the engine's own 3) is not the export's either
                while size:
                    n = self._recv(eview[: min(size, len(eview))])
                    if n == 0:
                        raise OSError("the attach stream ended inside a frame")
                    self.tail.feed(bytes(eview[:n]))
                    size -= n
                continue
            while size:  # stdout (1)
                if self.fill == CHUNK:
                    self.flush()
                n = self._recv(view[self.fill : self.fill + min(size, CHUNK - self.fill)])
                if n == 0:
                    raise OSError("the attach stream ended inside a frame")
                self.fill += n
                size -= n
