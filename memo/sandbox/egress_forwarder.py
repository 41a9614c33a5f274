"""memo-egress: the script container's PID 1, relaying allowed TCP endpoints to the runner.

    python3 -I -S -B /memo/egress_forwarder.py [--max-connections N] \\
        --listen HOST:PORT=/scripts/.memo-net/0.sock ... -- python3 main.py

The container has no network but its loopback (``network_mode: none``). For each
``--listen``, this resolves HOST inside the container (``/etc/hosts``: a literal, or a
name the runner mapped to a loopback address with ``extra_hosts``), listens on every
loopback address it gets, and relays each accepted connection over the unix socket,
which the runner bind-mounted from the host; the runner's end connects it to the one
endpoint that socket stands for. Then it runs the command, forwards SIGTERM/SIGINT/
SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 to it, reaps every child (it is init) and exits with the
command's status (128 + the signal when the command was killed).

Not the boundary: a script may bypass this process and connect to the unix sockets
itself, and it still reaches only the listed endpoints (the runner decides).

It runs with the image's python3 (>= 3.8), no imports of the runner's, and only C
modules of the standard library (``_socket``, ``select``, ``_signal``) besides the
interpreter's own: images ship without bytecode caches and the root is read-only, so
every pure-Python module would be compiled again in every container (``socket`` and
``selectors`` alone: ≈ 40 ms a run). One thread and one epoll: it takes none of the
container's pids limit but its own process, and its memory is its fixed buffers. It
never writes to stdout (the client's export); its messages go to stderr prefixed
``memo-egress:``.
"""

import os
import select
import sys
import time

import _signal
import _socket as net

PREFIX = "memo-egress: "
BUFFER = 256 * 1024
"""Bytes a direction of a connection holds at most: memory is flat whatever the volume."""
BACKLOG = 64
UNIX_CONNECT_TIMEOUT = 5.0
DRAIN_SECONDS = 1.0
"""After the command ends: how long open connections may finish (a client's QUIT)."""
FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
RESET_TO_DEFAULT = ("SIGPIPE", "SIGXFSZ")
"""Signals Python ignores; the command gets them back at their defaults."""
EX_USAGE = 64
EX_SOFTWARE = 70
EX_NOTFOUND = 127
PR_SET_DUMPABLE = 4
READ = select.EPOLLIN
WRITE = select.EPOLLOUT
TROUBLE = select.EPOLLHUP | select.EPOLLERR
"""Reported whatever was asked: an attempt to read or write then says what happened."""


def say(message):
    """One line on stderr, unbuffered; never fails the forwarder."""
    try:
        os.write(2, (PREFIX + message + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def make_non_dumpable():
    """``prctl(PR_SET_DUMPABLE, 0)``: a script of the same uid can neither ptrace this
    process nor read its memory or environment under /proc/1. The command regains the
    ordinary flag at exec. Best effort: without ctypes the relay still works."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            say("cannot make the forwarder non-dumpable: errno %d" % ctypes.get_errno())
    except (ImportError, OSError, AttributeError) as exc:
        say("cannot make the forwarder non-dumpable: %s" % exc)


class Usage(Exception):
    """A command line this program cannot run."""


def parse_args(argv):
    """``(listens, max_connections, command)``; ``listens`` is a list of (host, port, path).

    Raises:
        Usage: an unknown option, a malformed ``--listen``, or no command after ``--``.
    """
    listens, max_connections = [], 16
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            break
        if arg not in ("--listen", "--max-connections") or not args:
            raise Usage("unexpected argument %r (want --listen HOST:PORT=PATH ... -- COMMAND)" % arg)
        value = args.pop(0)
        if arg == "--max-connections":
            if not value.isdigit() or int(value) < 1:
                raise Usage("--max-connections must be a positive number, got %r" % value)
            max_connections = int(value)
            continue
        address, sep, path = value.partition("=")
        host, _, port = address.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not sep or not path or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise Usage("--listen wants HOST:PORT=PATH, got %r" % value)
        listens.append((host, int(port), path))
    if not args:
        raise Usage("no command after --")
    return listens, max_connections, args


def ascii_bytes(host):
    try:
        return host.encode("ascii")
    except UnicodeEncodeError:
        return host


def is_loopback(address):
    return address.startswith("127.") or address == "::1"


class Direction:
    """One way of a connection: ``src`` to ``dst`` through one fixed buffer.

    It reads from ``src`` only when its buffer is empty (back-pressure: a slow reader
    stops the writer), and passes an end of stream on as a half-close.
    """

    def __init__(self, src, dst):
        self.src, self.dst = src, dst
        self.buffer = memoryview(bytearray(BUFFER))
        self.start = self.end = 0
        self.eof = False
        self.done = False

    def wants_read(self):
        return not self.eof and self.start == self.end

    def wants_write(self):
        return self.start < self.end

    def read(self):
        n = self.src.recv_into(self.buffer)
        if n == 0:
            self.eof = True
        else:
            self.start, self.end = 0, n
        self.write()

    def write(self):
        if self.start < self.end:
            try:
                self.start += self.dst.send(self.buffer[self.start:self.end])
            except BlockingIOError:
                return
            if self.start < self.end:
                return
            self.start = self.end = 0
        if self.eof and not self.done:
            self.done = True
            try:
                self.dst.shutdown(net.SHUT_WR)
            except OSError:
                pass


class Connection:
    """A script's TCP connection and its unix socket to the runner, relayed both ways."""

    def __init__(self, relay, client, upstream):
        self.relay, self.client, self.upstream = relay, client, upstream
        self.ways = (Direction(client, upstream), Direction(upstream, client))
        self.masks = {client.fileno(): 0, upstream.fileno(): 0}
        self.closed = False

    def handler(self, sock):
        return lambda events: self.handle(sock, events)

    def handle(self, sock, events):
        if self.closed:  # closed by an earlier event of the same poll
            return
        try:
            for way in self.ways:
                if events & (READ | TROUBLE) and way.src is sock and way.wants_read():
                    way.read()
                if events & (WRITE | TROUBLE) and way.dst is sock and way.wants_write():
                    way.write()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:  # reset, broken pipe: the other side goes too
            self.close()
            return
        self.update()

    def update(self):
        if self.closed:
            return
        if all(way.done for way in self.ways):
            self.close()
            return
        for sock in (self.client, self.upstream):
            mask = 0
            for way in self.ways:
                if way.src is sock and way.wants_read():
                    mask |= READ
                if way.dst is sock and way.wants_write():
                    mask |= WRITE
            fd = sock.fileno()
            if mask != self.masks[fd]:
                self.relay.watch(fd, self.masks[fd], mask, self.handler(sock))
                self.masks[fd] = mask

    def close(self):
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.upstream):
            fd = sock.fileno()
            if self.masks[fd]:
                self.relay.watch(fd, self.masks[fd], 0, None)
            sock.close()
        self.relay.connections.discard(self)


class Relay:
    """Listeners and connections in one epoll, each file descriptor with its handler."""

    def __init__(self, max_connections):
        self.epoll = select.epoll()
        self.handlers = {}
        self.max_connections = max_connections
        self.listeners = []
        self.connections = set()
        self.refused = 0

    def watch(self, fd, old, new, handler):
        if not old:
            self.epoll.register(fd, new)
        elif not new:
            self.epoll.unregister(fd)
            del self.handlers[fd]
            return
        else:
            self.epoll.modify(fd, new)
        self.handlers[fd] = handler

    def listen(self, host, port, path, bound):
        """Listen on every loopback address ``host`` has in here; ``bound`` holds the
        addresses taken already (an earlier ``--listen`` of the same address wins)."""
        try:  # bytes: a str host would import the idna codec (pure Python, ≈ 80 ms here)
            infos = net.getaddrinfo(ascii_bytes(host), port, 0, net.SOCK_STREAM)
        except OSError as exc:
            say("cannot listen for %s:%d: %s; connections to it fail" % (host, port, exc))
            return
        problems, listening = [], False
        for family, kind, proto, _, address in infos:
            key = (address[0], port)
            if not is_loopback(address[0]) or key in bound:
                listening = listening or key in bound
                continue
            server = net.socket(family, kind, proto)
            try:
                server.setsockopt(net.SOL_SOCKET, net.SO_REUSEADDR, 1)
                server.bind((ascii_bytes(address[0]),) + tuple(address[1:]))
                server.listen(BACKLOG)
            except OSError as exc:
                server.close()
                problems.append("%s: %s" % (address[0], exc.strerror or exc))
                continue
            server.setblocking(False)
            bound.add(key)
            listening = True
            self.listeners.append(server)
            label = "%s:%d" % (host, port)
            self.watch(server.fileno(), 0, READ,
                       lambda _events, s=server, p=path, label=label: self.accept(s, p, label))
        if not listening:
            say("cannot listen for %s:%d (%s); connections to it fail"
                % (host, port, "; ".join(problems) or "no loopback address"))

    def accept(self, server, path, label):
        try:
            fd, _ = server._accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        client = net.socket(fileno=fd)
        if len(self.connections) >= self.max_connections:
            self.refuse(client, label)
            return
        upstream = net.socket(net.AF_UNIX, net.SOCK_STREAM)
        try:
            upstream.settimeout(UNIX_CONNECT_TIMEOUT)
            upstream.connect(path)
        except OSError as exc:
            say("cannot reach the runner for %s: %s" % (label, exc.strerror or exc))
            upstream.close()
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
        try:  # small request/response packets (SQL) must not wait for Nagle
            client.setsockopt(net.IPPROTO_TCP, net.TCP_NODELAY, 1)
        except OSError:
            pass
        connection = Connection(self, client, upstream)
        self.connections.add(connection)
        connection.update()

    def refuse(self, client, label):
        """Reset a connection over the cap: the script sees it closed at once."""
        self.refused += 1
        if self.refused == 1:
            say("refused a connection to %s: %d connections are open, the most allowed "
                "(MEMO_CONTAINER_MAX_CONNECTIONS)" % (label, self.max_connections))
        try:
            client.setsockopt(net.SOL_SOCKET, net.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        client.close()

    def stop_listening(self):
        for server in self.listeners:
            self.watch(server.fileno(), READ, 0, None)
            server.close()
        self.listeners = []

    def step(self, timeout):
        for fd, events in self.epoll.poll(-1 if timeout is None else timeout):
            handler = self.handlers.get(fd)
            if handler is not None:  # gone with an earlier event of this poll
                handler(events)


class Init:
    """The command as PID 1's child: spawned, signalled, reaped, its status returned."""

    def __init__(self, relay):
        self.relay = relay
        self.child = None
        self.status = None
        self.wake_r, self.wake_w = net.socketpair()
        for sock in (self.wake_r, self.wake_w):
            sock.setblocking(False)
        _signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)
        _signal.signal(_signal.SIGCHLD, lambda *_: None)  # a handler, so the wake-up fd fires
        for name in FORWARDED:
            if hasattr(_signal, name):
                _signal.signal(getattr(_signal, name), self.forward)
        relay.watch(self.wake_r.fileno(), 0, READ, self.woken)

    def spawn(self, command):
        """Start the command with default signal dispositions (Python ignores SIGPIPE)."""
        defaults = [getattr(_signal, n) for n in RESET_TO_DEFAULT if hasattr(_signal, n)]
        self.child = os.posix_spawnp(command[0], command, os.environ, setsigdef=defaults)

    def forward(self, signum, _frame):
        if self.child is not None and self.status is None:
            try:
                os.kill(self.child, signum)
            except ProcessLookupError:
                pass

    def woken(self, _events):
        try:
            while self.wake_r.recv(512):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        self.reap()

    def reap(self):
        """Reap every exited child (orphans re-parent to PID 1); keep the command's status."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.child:
                self.status = status

    def exit_code(self):
        if os.WIFSIGNALED(self.status):
            return 128 + os.WTERMSIG(self.status)
        return os.WEXITSTATUS(self.status)


def serve(listens, max_connections, command):
    """Listen, run the command, relay until it ends; returns its exit code."""
    relay = Relay(max_connections)
    init = Init(relay)
    bound = set()
    for host, port, path in listens:
        relay.listen(host, port, path, bound)
    try:
        init.spawn(command)
    except OSError as exc:
        say("cannot run %s: %s" % (command[0], exc.strerror or exc))
        return EX_NOTFOUND
    while init.status is None:
        relay.step(None)
        init.reap()  # a SIGCHLD between two polls is seen here
    relay.stop_listening()
    give_up = time.monotonic() + DRAIN_SECONDS
    while relay.connections and time.monotonic() < give_up:
        relay.step(max(give_up - time.monotonic(), 0))
    if relay.refused > 1:
        say("refused %d connections over the cap of %d" % (relay.refused, max_connections))
    return init.exit_code()


def main(argv):
    make_non_dumpable()
    try:
        listens, max_connections, command = parse_args(argv)
    except Usage as exc:
        say(str(exc))
        return EX_USAGE
    try:
        return serve(listens, max_connections, command)
    except Exception as exc:  # noqa: BLE001 - say why in the runlog rather than a traceback
        say("internal error: %s: %s" % (type(exc).__name__, exc))
        return EX_SOFTWARE


if __name__ == "__main__":
    os._exit(main(sys.argv[1:]))
