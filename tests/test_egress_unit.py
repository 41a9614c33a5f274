"""Egress by allow-list on the host alone (no container): parsing, planning, the runner's
relay and the in-container forwarder, against real sockets on the host's loopback."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from memo.sandbox.egress import (
    FORWARDER,
    NET_DIR,
    EgressPlan,
    EgressRelay,
    Endpoint,
    parse_allow_list,
    parse_endpoint,
)
from memo.settings import ContainerSettings

MB = 1 << 20


# --- parsing and planning ----------------------------------------------------------------


def test_allow_list_parses_loopback_literals_localhost_and_names():
    endpoints = parse_allow_list(" 127.0.0.1:3306, DB.Example.org:3306,[::1]:5432,localhost:3306,127.0.0.1:3306,")
    assert endpoints == (Endpoint("127.0.0.1", 3306), Endpoint("db.example.org", 3306),
                         Endpoint("::1", 5432), Endpoint("localhost", 3306))
    assert [e.label for e in endpoints] == ["127.0.0.1:3306", "db.example.org:3306", "[::1]:5432", "localhost:3306"]
    assert [e.is_name for e in endpoints] == [False, True, False, False]
    assert parse_allow_list("") == () and parse_allow_list(" , ") == ()


@pytest.mark.parametrize("text, says", [
    ("10.0.0.5:3306", "list the host by name"),
    ("[2001:db8::1]:3306", "list the host by name"),
    ("0.0.0.0:3306", "list the host by name"),
    ("db.example.org", "is not host:port"),
    ("db.example.org:0", "is not host:port"),
    ("db.example.org:70000", "is not host:port"),
    ("db example:3306", "is not a host name"),
    ("db=x:3306", "is not a host name"),
    ("::1:3306", "in brackets"),
])
def test_allow_list_refuses_what_cannot_work(text, says):
    with pytest.raises(ValueError, match=says):
        parse_endpoint(text)


def test_the_plan_keeps_literals_and_gives_each_name_its_own_loopback_address():
    endpoints = parse_allow_list("db.example.org:3306,127.0.0.2:5432,db.example.org:3307,other.example.org:3306,"
                                 "127.0.0.1:3306")
    plan = EgressPlan.build(endpoints, max_connections=4, scripts_mount="/scripts/")
    # Literals first (they win an address the container's /etc/hosts also gives a name).
    assert [listener.endpoint.label for listener in plan.listeners] == [
        "127.0.0.2:5432", "127.0.0.1:3306", "db.example.org:3306", "db.example.org:3307", "other.example.org:3306"]
    # One address per name, never one a literal uses.
    assert dict(plan.extra_hosts) == {"db.example.org": "127.0.0.3", "other.example.org": "127.0.0.4"}
    assert plan.wrap(["python3", "main.py"]) == [
        "python3", "-I", "-S", "-B", "/memo/egress_forwarder.py", "--max-connections", "4",
        "--listen", "127.0.0.2:5432=/scripts/.memo-net/0.sock",
        "--listen", "127.0.0.1:3306=/scripts/.memo-net/1.sock",
        "--listen", "db.example.org:3306=/scripts/.memo-net/2.sock",
        "--listen", "db.example.org:3307=/scripts/.memo-net/3.sock",
        "--listen", "other.example.org:3306=/scripts/.memo-net/4.sock",
        "--", "python3", "main.py"]
    assert plan.mounts() == [("/memo/egress_forwarder.py", str(FORWARDER))]


def test_a_scripts_mount_too_long_for_the_sockets_is_refused():
    with pytest.raises(ValueError, match="too long for the egress sockets"):
        EgressPlan.build(parse_allow_list("127.0.0.1:3306"), max_connections=1, scripts_mount="/" + "s" * 100)


@pytest.mark.parametrize("update, says", [
    ({"allow": "10.0.0.1:3306"}, "invalid setting MEMO_CONTAINER_ALLOW: '10.0.0.1:3306'"),
    ({"environment": {"PREFECT_API_AUTH_STRING": "admin:pw-4411"}},
     "MEMO_CONTAINER_ENVIRONMENT: PREFECT_API_AUTH_STRING"),
    ({"scripts_mount": "/" + "s" * 100}, "invalid setting MEMO_CONTAINER_SCRIPTS_MOUNT"),
])
def test_the_sandbox_checks_settings_that_were_copied_unvalidated(update, says):
    """A Prefect block's values are copied over the settings without validation: the
    sandbox refuses them itself, before any container."""
    from memo.errors import ConfigError
    from memo.sandbox.docker import DockerSandbox

    container = ContainerSettings().model_copy(update=update)
    with pytest.raises(ConfigError) as err:
        DockerSandbox(container, "memo-python")
    assert err.value.message.startswith(says) and "pw-4411" not in err.value.message


def test_no_plan_when_the_allow_list_does_not_apply_or_is_empty():
    assert EgressPlan.for_container(ContainerSettings(network="host")) is None
    assert EgressPlan.for_container(ContainerSettings(network="bridge")) is None
    assert EgressPlan.for_container(ContainerSettings(network="none", allow="")) is None
    plan = EgressPlan.for_container(ContainerSettings())
    assert [listener.endpoint.label for listener in plan.listeners] == ["127.0.0.1:3306"] and plan.max_connections == 16


# --- the runner's relay ---------------------------------------------------------------------


class Upstream:
    """A TCP server on the host's loopback that records what connects and runs ``serve(conn)``."""

    def __init__(self, serve=None):
        self.server = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.serve = serve or self.echo
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            self.serve(conn)
        except OSError:
            pass

    @staticmethod
    def echo(conn):
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)

    def close(self):
        self._closed = True
        self.server.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def upstreams():
    made = []

    def make(serve=None) -> Upstream:
        made.append(Upstream(serve))
        return made[-1]

    yield make
    for upstream in made:
        upstream.close()


def relay_for(tmp_path: Path, *ports: int, max_connections: int = 16, tree: Path | None = None) -> EgressRelay:
    endpoints = tuple(Endpoint("127.0.0.1", port) for port in ports)
    plan = EgressPlan.build(endpoints, max_connections=max_connections, scripts_mount="/scripts")
    tree = tree or tmp_path / "tree"
    tree.mkdir(parents=True, exist_ok=True)
    relay = EgressRelay.create(plan, tree, f"unit-{os.getpid()}")
    relay.start()
    return relay


def connect(relay: EgressRelay, index: int = 0) -> socket.socket:
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(10)
    client.connect(str(relay.folder / f"{index}.sock"))
    return client


def recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


def egress_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("memo-egress-") and t.is_alive()]


def test_each_socket_reaches_only_its_own_endpoint(tmp_path, upstreams):
    allowed, other, listed_second = upstreams(), upstreams(), upstreams()
    relay = relay_for(tmp_path, allowed.port, listed_second.port)
    try:
        assert sorted(p.name for p in relay.folder.iterdir()) == ["0.sock", "1.sock"]
        # Whatever the client sends (an address, a proxy request) changes nothing.
        for payload in (b"CONNECT 127.0.0.1:%d HTTP/1.1\r\n\r\n" % other.port, b"\x05\x01\x00", b"x" * 1000):
            client = connect(relay, 0)
            client.sendall(payload)
            client.shutdown(socket.SHUT_WR)
            assert recv_all(client) == payload  # echoed by the allowed endpoint
            client.close()
        client = connect(relay, 1)
        client.sendall(b"second")
        client.shutdown(socket.SHUT_WR)
        assert recv_all(client) == b"second"
        client.close()
    finally:
        relay.close()
    assert len(allowed.accepted) == 3 and len(listed_second.accepted) == 1
    assert other.accepted == []
    assert relay.connections == {f"127.0.0.1:{allowed.port}": 3, f"127.0.0.1:{listed_second.port}": 1}


def test_half_close_is_passed_on_both_ways(tmp_path, upstreams):
    def answer_after_eof(conn):
        request = recv_all(conn)  # the client's half-close must arrive as an end of stream
        conn.sendall(b"got " + request)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)  # stays open for reading until the relay closes it

    relay = relay_for(tmp_path, upstreams(answer_after_eof).port)
    try:
        client = connect(relay)
        client.sendall(b"query;")
        client.shutdown(socket.SHUT_WR)
        assert recv_all(client) == b"got query;"
        client.close()
    finally:
        relay.close()


def test_the_cap_refuses_excess_connections_and_frees_a_slot_when_one_ends(tmp_path, upstreams, caplog):
    upstream = upstreams()
    relay = relay_for(tmp_path, upstream.port, max_connections=3)
    caplog.set_level(logging.DEBUG, logger="memo.sandbox.egress")
    try:
        held = [connect(relay) for _ in range(3)]
        for client in held:  # all three really relayed
            client.sendall(b"ping")
            assert client.recv(4) == b"ping"
        excess = [connect(relay) for _ in range(2)]
        for client in excess:
            assert client.recv(10) == b""  # closed at once
        assert relay.refused == 2 and relay.open_connections == 3
        assert len(upstream.accepted) == 3
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "refused a connection" in r.message]
        assert len(warnings) == 1 and "MEMO_CONTAINER_MAX_CONNECTIONS" in warnings[0].message
        held[0].shutdown(socket.SHUT_WR)
        assert recv_all(held[0]) == b""
        held[0].close()
        deadline = time.monotonic() + 5
        while relay.open_connections > 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        again = connect(relay)
        again.sendall(b"again")
        assert again.recv(5) == b"again"
    finally:
        relay.close()


def test_close_frees_every_socket_thread_and_file(tmp_path, upstreams):
    upstream = upstreams()
    before_fds = len(os.listdir("/proc/self/fd"))
    relay = relay_for(tmp_path, upstream.port)
    clients = [connect(relay) for _ in range(4)]
    for client in clients:
        client.sendall(b"x")
        assert client.recv(1) == b"x"
    assert len(egress_threads()) >= 1 + 2 * 4
    relay.close()
    relay.close()  # twice is fine
    for client in clients:  # every relayed connection was cut
        assert client.recv(10) == b""
        client.close()
    for conn in upstream.accepted:
        conn.settimeout(5)
        assert conn.recv(10) == b""
    assert not relay.folder.exists()
    assert egress_threads() == []
    upstream.close()
    assert len(os.listdir("/proc/self/fd")) <= before_fds


def test_what_a_script_sent_before_its_run_ended_is_delivered(tmp_path, upstreams):
    received = []

    def sink(conn):
        received.append(hashlib.sha256(recv_all(conn)).hexdigest())

    relay = relay_for(tmp_path, upstreams(sink).port)
    data = bytes(range(256)) * (32 * 1024)  # 8 MiB, far more than the sockets' buffers
    client = connect(relay)
    client.sendall(data)
    client.close()  # the script ends: its container is removed, then the run closes the relay
    relay.close()
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    assert received == [hashlib.sha256(data).hexdigest()]


def test_an_endpoint_that_refuses_closes_the_scripts_connection_and_is_logged(tmp_path, caplog):
    dead = socket.create_server(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    relay = relay_for(tmp_path, port)
    try:
        client = connect(relay)
        assert client.recv(10) == b""
    finally:
        relay.close()
    assert relay.failed == 1
    assert any(f"cannot connect to 127.0.0.1:{port}" in r.message for r in caplog.records)


def test_a_tree_path_longer_than_a_unix_socket_path_works(tmp_path, upstreams):
    tree = tmp_path / ("deep-" + "x" * 60) / ("deeper-" + "y" * 60) / "run-tree"
    assert len(str(tree / NET_DIR / "0.sock")) > 108
    relay = relay_for(tmp_path, upstreams().port, tree=tree)
    try:
        client = connect(relay) if len(str(relay.folder / "0.sock")) <= 107 else None
        if client is None:  # the client side needs a short path too: go through the folder's fd
            fd = os.open(relay.folder, os.O_RDONLY | os.O_DIRECTORY)
            client = socket.socket(socket.AF_UNIX)
            client.connect(f"/proc/self/fd/{fd}/0.sock")
            os.close(fd)
        client.sendall(b"long")
        assert client.recv(4) == b"long"
        client.close()
    finally:
        relay.close()
    assert not (tree / NET_DIR).exists()


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class PeakRss:
    """Samples this process's resident set every 20 ms while the block runs."""

    def __enter__(self):
        self.base = rss_kb()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_kb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1024


def pattern(i: int) -> bytes:
    return i.to_bytes(8, "big") + bytes((i * 31 + j) % 251 for j in range(65536 - 8))


def test_100_mb_each_way_arrive_exact_with_flat_memory(tmp_path, upstreams):
    blocks = 100 * MB // 65536
    base = pattern(0)[8:]
    sent_up = hashlib.sha256()
    received_up = hashlib.sha256()
    upload_received = threading.Event()

    def producer(conn):  # a database answering a big query, while the client uploads too
        def read():
            while data := conn.recv(65536):
                received_up.update(data)
            upload_received.set()

        reader = threading.Thread(target=read)
        reader.start()
        for i in range(blocks):
            conn.sendall(i.to_bytes(8, "big") + base)
        conn.shutdown(socket.SHUT_WR)
        reader.join()

    relay = relay_for(tmp_path, upstreams(producer).port)
    expected = hashlib.sha256(b"".join(i.to_bytes(8, "big") + base for i in range(blocks))).hexdigest()
    try:
        with PeakRss() as rss:
            client = connect(relay)
            client.settimeout(60)

            def upload():
                for i in range(blocks):
                    block = (blocks - i).to_bytes(8, "big") + base
                    sent_up.update(block)
                    client.sendall(block)
                client.shutdown(socket.SHUT_WR)

            uploader = threading.Thread(target=upload)
            uploader.start()
            got = hashlib.sha256()
            size = 0
            while data := client.recv(1 << 20):
                got.update(data)
                size += len(data)
            uploader.join()
            client.close()
    finally:
        relay.close()
    assert size == blocks * 65536
    assert got.hexdigest() == expected
    assert upload_received.wait(10)  # the endpoint has read to the end of the upload
    assert received_up.hexdigest() == sent_up.hexdigest()
    assert relay.bytes_to_script == relay.bytes_from_script == blocks * 65536
    assert rss.growth_mb < 20, f"the relay's memory grew by {rss.growth_mb:.1f} MB for 200 MB relayed"


# --- the forwarder, on the host (in a container it is PID 1: tests/docker/test_egress.py) ---


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def forwarder(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-I", "-S", "-B", str(FORWARDER), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


CLIENT = """\
import socket, sys
port = int(sys.argv[1])
with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
    s.sendall(b"hello through the forwarder")
    s.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
sys.stdout.write(data.decode() + "\\n")
sys.exit(int(sys.argv[2]))
"""


def test_the_forwarder_relays_runs_the_command_and_keeps_its_exit_status(tmp_path, upstreams):
    upstream = upstreams()
    relay = relay_for(tmp_path, upstream.port)
    port = free_port()
    try:
        proc = forwarder("--listen", f"127.0.0.1:{port}={relay.folder / '0.sock'}", "--",
                         sys.executable, "-c", CLIENT, str(port), "7")
        out, err = proc.communicate(timeout=30)
    finally:
        relay.close()
    assert proc.returncode == 7
    assert out == b"hello through the forwarder\n"  # the command's stdout only: none of the forwarder's
    assert err == b""
    assert len(upstream.accepted) == 1


def test_the_forwarder_passes_sigterm_on_and_reports_a_killed_command_as_128_plus_signal(tmp_path):
    ready = tmp_path / "ready"
    proc = forwarder("--", sys.executable, "-c",
                     f"import time, pathlib; pathlib.Path({str(ready)!r}).touch(); time.sleep(60)")
    deadline = time.monotonic() + 20
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert out == b""


def older_pythons() -> list[str]:
    """Interpreters >= 3.8 on this machine other than ours (an image's python3 may be any)."""
    import glob
    import shutil

    found = {shutil.which(f"python3.{minor}") for minor in range(8, 14)}
    found.update(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
    found.discard(None)
    return sorted(p for p in found if not p.startswith(str(Path(sys.executable).parent))
                  and subprocess.run([p, "-c", "import sys; assert sys.version_info >= (3, 8)"],
                                     capture_output=True).returncode == 0)


@pytest.mark.parametrize("python", older_pythons() or [pytest.param(None, marks=pytest.mark.skip(
    reason="no other Python >= 3.8 on this machine"))])
def test_the_forwarder_runs_on_any_python_from_3_8(tmp_path, upstreams, python):
    upstream = upstreams()
    relay = relay_for(tmp_path, upstream.port)
    port = free_port()
    try:
        proc = subprocess.run([python, "-I", "-S", "-B", str(FORWARDER), "--listen",
                               f"127.0.0.1:{port}={relay.folder / '0.sock'}", "--",
                               sys.executable, "-c", CLIENT, str(port), "3"], capture_output=True, timeout=30)
    finally:
        relay.close()
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, b"hello through the forwarder\n", b"")


@pytest.mark.parametrize("args, code, says", [
    (["--listen", "nonsense", "--", "true"], 64, "--listen wants HOST:PORT=PATH"),
    (["--listen", "127.0.0.1:1=/x"], 64, "no command after --"),
    (["--", "/no/such/command"], 127, "cannot run /no/such/command"),
])
def test_the_forwarder_says_what_is_wrong_on_stderr_only(args, code, says):
    proc = forwarder(*args)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == code
    assert out == b""
    assert err.decode().startswith("memo-egress: ") and says in err.decode()


def test_the_forwarder_refuses_connections_over_its_cap(tmp_path, upstreams):
    def hold(conn):
        conn.sendall(b"hi")
        conn.recv(1)

    relay = relay_for(tmp_path, upstreams(hold).port, max_connections=8)
    port = free_port()
    script = f"""\
import socket, time
held, refused = [], 0
for _ in range(4):
    try:  # a reset may come as the connect returns, or at the first read
        s = socket.create_connection(("127.0.0.1", {port}), timeout=10)
        data = s.recv(2)
    except ConnectionResetError:
        data = b""
    if data == b"hi":
        held.append(s)
    else:
        refused += 1
print(len(held), refused)
"""
    try:
        proc = forwarder("--max-connections", "2", "--listen", f"127.0.0.1:{port}={relay.folder / '0.sock'}",
                         "--", sys.executable, "-c", script)
        out, err = proc.communicate(timeout=30)
    finally:
        relay.close()
    assert out.split() == [b"2", b"2"], err
    assert b"memo-egress: refused a connection to 127.0.0.1:" in err
    assert relay.connections[f"127.0.0.1:{relay.plan.listeners[0].endpoint.port}"] == 2
