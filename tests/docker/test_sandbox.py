"""DockerSandbox against the real Docker Engine API served by Podman: output, limits, lockdown."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import threading
import time

import pytest

from memo.errors import ExportWriteError, SandboxUnavailable
from memo.sandbox.base import SandboxJob
from memo.sandbox import make_sandbox
from tests.docker.conftest import containers_named, docker_settings, job_name, make_tree

pytestmark = pytest.mark.docker


def run(tmp_path, main, *, timeout=60, files=None, labels=None, stdout=None, **container):
    """Run ``main`` in a container; returns (result, output bytes, job). Checks nothing is left."""
    settings = docker_settings(tmp_path, timeout=timeout, **container)
    sandbox = make_sandbox(settings)
    tree = make_tree(tmp_path, main, files)
    job = SandboxJob(tree=tree, timeout=timeout, name=job_name(), labels=labels or {"task-id": "t1"})
    out = stdout if stdout is not None else io.BytesIO()
    try:
        result = sandbox.run(job, out)
    finally:
        api = sandbox.engine.client()
        assert containers_named(api, job.name) == [], "the container was left behind"
    return result, (out.getvalue() if isinstance(out, io.BytesIO) else None), job


def test_stdout_exact_stderr_apart_exit_code_kept(tmp_path):
    main = (
        "import sys\n"
        "sys.stdout.write('héllo wörld 日本\\n')\n"
        "sys.stdout.flush()\n"
        "sys.stderr.write('warning one\\n')\n"
        "sys.stdout.buffer.write(b'bin\\x00\\xff\\xfe\\r\\n' + bytes(range(256)))\n"
        "print('line a\\nline b')\n"
        "sys.stderr.write('warning two\\n')\n"
        "sys.exit(7)\n"
    )
    result, out, _ = run(tmp_path, main)
    assert out == (
        "héllo wörld 日本\n".encode() + b"bin\x00\xff\xfe\r\n" + bytes(range(256)) + b"line a\nline b\n"
    )
    assert result.exit_code == 7 and not result.ok and not result.timed_out
    assert result.bytes_out == len(out)
    assert result.stderr_tail == "warning one\nwarning two"
    assert b"warning" not in out


def test_no_tty_so_no_crlf(tmp_path):
    result, out, _ = run(tmp_path, "import os\nprint('a'); print('b')\nprint(os.isatty(1), os.isatty(2))\n")
    assert result.ok
    assert out == b"a\nb\nFalse False\n"


def test_stderr_tail_is_the_end_of_a_long_stderr(tmp_path):
    main = "import sys\nfor i in range(20000): print(f'err {i}', file=sys.stderr)\nprint('out')\n"
    result, out, _ = run(tmp_path, main)
    assert result.ok and out == b"out\n"
    assert result.stderr_tail.endswith("err 19999")
    assert len(result.stderr_tail) <= 2000


def test_empty_output_and_exit_zero(tmp_path):
    result, out, _ = run(tmp_path, "pass\n")
    assert result.ok and result.exit_code == 0 and out == b"" and result.bytes_out == 0


def test_memory_limit_fails_cleanly(tmp_path):
    main = (
        "print('before', flush=True)\n"
        "chunks = []\n"
        "for i in range(64):\n"
        "    chunks.append(bytearray(8 << 20))  # 512 MiB in all, touched\n"
        "print('never')\n"
    )
    started = time.monotonic()
    result, out, _ = run(tmp_path, main, memory="64m")
    assert not result.ok and not result.timed_out
    assert result.exit_code == 137
    assert "out of memory" in result.detail and "64m" in result.detail
    assert out == b"before\n"
    assert time.monotonic() - started < 30


def test_fork_bomb_stays_under_the_pids_limit(tmp_path):
    # A classic bomb that ignores errors: every process keeps forking until the deadline.
    main = (
        "import os, sys\n"
        "print('start', flush=True)\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass\n"
    )
    before = len(os.listdir("/proc"))
    result, out, _ = run(tmp_path, main, timeout=5, pids_limit=32, cpus=0.5)
    assert result.timed_out and not result.ok
    assert "timed out" in result.detail
    assert out == b"start\n"
    # The host is fine: it can fork, and it has no more processes than before (± noise).
    assert subprocess.run(["true"]).returncode == 0
    assert len(os.listdir("/proc")) < before + 20
    # And the next container runs as usual.
    result, out, _ = run(tmp_path, "print('after')\n")
    assert result.ok and out == b"after\n"


def test_fork_until_refused_reports_the_error(tmp_path):
    main = (
        "import os, sys, time\n"
        "n = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30); os._exit(0)\n"
        "        n += 1\n"
        "except OSError as exc:\n"
        "    print(f'forked {n}: {exc}', file=sys.stderr)\n"
        "    sys.exit(3)\n"
    )
    result, _, _ = run(tmp_path, main, pids_limit=16)
    assert result.exit_code == 3
    assert "Resource temporarily unavailable" in result.stderr_tail
    forked = int(result.stderr_tail.split("forked ")[1].split(":")[0])
    assert forked < 16


def test_timeout_kills_and_removes(tmp_path):
    main = "import time\nprint('started', flush=True)\ntime.sleep(120)\nprint('never')\n"
    started = time.monotonic()
    result, out, _ = run(tmp_path, main, timeout=2)
    elapsed = time.monotonic() - started
    assert result.timed_out and not result.ok and result.exit_code is None
    assert result.detail == "killed: timed out after 2 s"
    assert out == b"started\n"
    assert 2 <= result.duration < 10 and elapsed < 15


def test_timeout_while_output_keeps_flowing(tmp_path):
    main = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    result, out, _ = run(tmp_path, main, timeout=2)
    assert result.timed_out and len(out) > 0 and not out.strip(b"x")


LOCKDOWN = r'''
import os, sys
def attempt(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "WROTE"
    except OSError as exc:
        return type(exc).__name__ + ":" + str(exc.errno)
print("uid", os.getuid(), os.getgid())
print("cwd", os.getcwd())
print("tree", attempt("main.py"))
print("tree_new", attempt("new.py"))
print("root", attempt("/evil"))
print("etc", attempt("/etc/evil"))
print("tmp", attempt("/tmp/ok"))
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
print("capeff", status["CapEff"].strip())
print("nonewprivs", status["NoNewPrivs"].strip())
import mysql.connector, tinyhtml, rfeed
print("libs ok")
'''


def test_script_cannot_write_its_tree_or_root_and_runs_as_non_root(tmp_path):
    result, out, _ = run(tmp_path, LOCKDOWN)
    assert result.ok, result.stderr_tail
    lines = dict(line.split(" ", 1) for line in out.decode().splitlines())
    uid, gid = lines["uid"].split()
    assert uid != "0" and gid != "0"
    assert lines["cwd"] == "/scripts"
    assert lines["tree"].startswith("OSError:30") or lines["tree"].startswith("PermissionError")
    assert lines["tree_new"] != "WROTE"
    assert lines["root"] != "WROTE" and lines["etc"] != "WROTE"
    assert lines["tmp"] == "WROTE"
    assert lines["capeff"] == "0000000000000000"
    assert lines["nonewprivs"] == "1"
    assert lines["libs"] == "ok"


CONNECT = r'''
import socket, sys
port = int(sys.argv[1]) if len(sys.argv) > 1 else int(open("port").read())
try:
    socket.create_connection(("127.0.0.1", port), timeout=3).close()
    print("reached")
except OSError as exc:
    print("refused", type(exc).__name__)
'''


@pytest.fixture
def host_listener():
    """A TCP listener on the host's loopback, standing in for the library database."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def _db_port_open() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 3306), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("network, allow, listener, database", [
    ("none", "", "refused", "refused"),  # no allow-list: nothing at all
    ("none", "127.0.0.1:3306", "refused", "reached"),  # the default: the database only
    ("host", "127.0.0.1:3306", "reached", "reached"),  # the opt-out: everything (allow ignored)
], ids=["none-empty-allow", "none-default-allow", "host"])
def test_network_none_reaches_only_the_allow_list_host_reaches_all(tmp_path, host_listener, network, allow,
                                                                    listener, database):
    ports = {host_listener: listener, **({3306: database} if _db_port_open() else {})}
    for port, expect in ports.items():
        result, out, _ = run(tmp_path, CONNECT, files={"port": str(port)}, network=network, allow=allow)
        assert result.ok, result.stderr_tail
        assert out.decode().split()[0] == expect, (port, out)


def test_container_settings_are_applied_and_labels_name_the_task(tmp_path, api):
    settings = docker_settings(tmp_path, memory="96m", cpus=0.5, pids_limit=40, tmpfs_size="8m",
                               environment={"LIBRARY_DB_HOST": "127.0.0.1"})
    sandbox = make_sandbox(settings)
    # It runs until the test has looked (a fixed sleep ended before a loaded machine's look).
    tree = make_tree(tmp_path, "import os, time\nprint(os.environ['LIBRARY_DB_HOST'])\n"
                               "deadline = time.monotonic() + 25\n"
                               "while not os.path.exists('/scripts/go') and time.monotonic() < deadline:\n"
                               "    time.sleep(0.05)\n")
    job = SandboxJob(tree=tree, timeout=30, name=job_name(), labels={"task-id": "abc-123", "task": "abccorp:x_xml"})
    out = io.BytesIO()
    results = []
    thread = threading.Thread(target=lambda: results.append(sandbox.run(job, out)))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not containers_named(api, job.name) and time.monotonic() < deadline:
            time.sleep(0.1)
        info = api.inspect_container(job.name)
        # An operator finds it by label.
        listed = api.containers(all=True, filters={"label": "org.oapen.memo.task-id=abc-123"})  # created or running
        assert [c["Id"] for c in listed] == [info["Id"]]
    finally:
        (tree / "go").write_text("")
        thread.join(30)
    labels = info["Config"]["Labels"]
    assert labels["org.oapen.memo.managed-by"] == "memo-taskrunner"
    assert labels["org.oapen.memo.task"] == "abccorp:x_xml"
    assert labels["org.oapen.memo.runner-pid"] == str(os.getpid())
    assert labels["org.oapen.memo.runner-host"] == socket.gethostname()
    hc = info["HostConfig"]
    assert hc["Memory"] == 96 * 1024 * 1024
    assert hc["PidsLimit"] == 40
    assert hc["ReadonlyRootfs"] is True
    assert hc["NetworkMode"] == "none"
    assert hc["AutoRemove"] is False
    assert any("no-new-privileges" in o for o in hc.get("SecurityOpt") or [])
    assert "8m" in str(hc.get("Tmpfs", {}).get("/tmp", "")) or "size=8m" in str(hc.get("Tmpfs"))
    assert info["Config"]["User"] == "65534:65534"
    assert info["Config"]["Tty"] is False
    mounts = [m for m in info["Mounts"] if m["Destination"] == "/scripts"]
    assert mounts and mounts[0]["RW"] is False
    assert results and results[0].ok and out.getvalue() == b"127.0.0.1\n"
    assert containers_named(api, job.name) == []


def test_remove_orphans_removes_a_dead_runners_container_only(tmp_path, api):
    settings = docker_settings(tmp_path)
    sandbox = make_sandbox(settings)
    dead = subprocess.Popen(["true"])
    dead.wait()
    live_pid = os.getppid()
    from memo.sandbox.orphans import proc_start_time

    def leftover(pid, started):
        name = job_name("memo-orphan")
        labels = {
            "org.oapen.memo.managed-by": "memo-taskrunner",
            "org.oapen.memo.runner-host": socket.gethostname(),
            "org.oapen.memo.runner-pid": str(pid),
            "org.oapen.memo.runner-started": started,
            "org.oapen.memo.created": f"{time.time():.0f}",
            "org.oapen.memo.timeout": "3600",
        }
        api.create_container(settings.docker_image, ["sleep", "600"], name=name, labels=labels,
                             host_config=api.create_host_config(network_mode="none"))
        api.start(name)
        return name

    orphan = leftover(dead.pid, "1")
    alive = leftover(live_pid, proc_start_time(live_pid) or "")
    reused = leftover(live_pid, "1")  # a live pid that is not the runner any more
    try:
        removed = sandbox.remove_orphans()
        assert removed >= 2
        assert containers_named(api, orphan) == []
        assert containers_named(api, reused) == []
        assert len(containers_named(api, alive)) == 1  # another live runner's: kept
    finally:
        for name in (orphan, alive, reused):
            try:
                api.remove_container(name, force=True)
            except Exception:  # noqa: BLE001 - cleanup: the container may be gone already
                pass


def test_missing_image_is_a_fast_clear_error(tmp_path):
    settings = docker_settings(tmp_path)
    settings.docker_image = "localhost/memo-no-such-image:0"
    sandbox = make_sandbox(settings)
    tree = make_tree(tmp_path, "print(1)\n")
    started = time.monotonic()
    with pytest.raises(SandboxUnavailable) as caught:
        sandbox.run(SandboxJob(tree=tree, timeout=10, name=job_name()), io.BytesIO())
    assert time.monotonic() - started < 2
    assert "localhost/memo-no-such-image:0" in caught.value.message
    assert "not on the container engine" in caught.value.message
    assert caught.value.kind == "sandbox"
    assert any("memo-no-such-image" in p for p in sandbox.problems())


def test_an_image_removed_during_the_night_is_the_same_clear_error(tmp_path, api):
    """The image is checked once per sandbox; a later removal fails the create just as clearly."""
    settings = docker_settings(tmp_path)
    vanishing = f"localhost/memo-vanishing:{os.getpid()}"
    api.tag(settings.docker_image, vanishing.rsplit(":", 1)[0], tag=vanishing.rsplit(":", 1)[1])
    settings.docker_image = vanishing
    sandbox = make_sandbox(settings)
    try:
        first = sandbox.run(SandboxJob(tree=make_tree(tmp_path, "print(1)\n"), timeout=30, name=job_name()),
                            io.BytesIO())
        assert first.exit_code == 0
    finally:
        api.remove_image(vanishing)
    with pytest.raises(SandboxUnavailable) as caught:
        sandbox.run(SandboxJob(tree=make_tree(tmp_path, "print(2)\n"), timeout=30, name=job_name()),
                    io.BytesIO())
    assert vanishing in caught.value.message and "not on the container engine" in caught.value.message
    assert caught.value.kind == "sandbox"


def test_unreachable_engine_is_a_clear_error(tmp_path):
    settings = docker_settings(tmp_path, docker_host=f"unix://{tmp_path}/no-engine.sock")
    sandbox = make_sandbox(settings)
    problems = sandbox.problems()
    assert len(problems) == 1 and "unreachable" in problems[0] and "no-engine.sock" in problems[0]
    started = time.monotonic()
    with pytest.raises(SandboxUnavailable, match="unreachable"):
        sandbox.run(SandboxJob(tree=make_tree(tmp_path, "print(1)\n"), timeout=10, name=job_name()), io.BytesIO())
    assert time.monotonic() - started < 2
    assert sandbox.remove_orphans() == 0


def test_problems_empty_when_fine(tmp_path):
    assert make_sandbox(docker_settings(tmp_path)).problems() == []


def test_missing_named_network_is_a_problem(tmp_path):
    sandbox = make_sandbox(docker_settings(tmp_path, network="memo-no-such-net"))
    assert any("memo-no-such-net" in p for p in sandbox.problems())


class FailingFile(io.RawIOBase):
    def __init__(self, after: int):
        self.after = after
        self.seen = 0

    def writable(self):
        return True

    def write(self, data):
        self.seen += len(data)
        if self.seen > self.after:
            raise OSError(28, "No space left on device")
        return len(data)


def test_export_write_failure_stops_the_container(tmp_path):
    main = "import sys, time\nsys.stdout.write('x' * (8 << 20))\nsys.stdout.flush()\ntime.sleep(120)\n"
    started = time.monotonic()
    with pytest.raises(ExportWriteError, match="No space left"):
        run(tmp_path, main, stdout=FailingFile(after=2 << 20))
    assert time.monotonic() - started < 20


def test_parallel_runs_are_exact(tmp_path):
    settings = docker_settings(tmp_path)
    sandbox = make_sandbox(settings)
    outputs = {}

    def one(i):
        tree = make_tree(tmp_path, f"import sys\nfor n in range(20000): print({i}, n)\n")
        out = io.BytesIO()
        result = sandbox.run(SandboxJob(tree=tree, timeout=60, name=job_name()), out)
        outputs[i] = (result, out.getvalue())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i in range(3):
        result, out = outputs[i]
        assert result.ok
        assert out == "".join(f"{i} {n}\n" for n in range(20000)).encode()


def test_open_files_stay_bounded_over_many_runs(tmp_path):
    settings = docker_settings(tmp_path)
    sandbox = make_sandbox(settings)
    tree = make_tree(tmp_path, "print('x')\n")

    def fds():
        return len(os.listdir("/proc/self/fd"))

    for _ in range(12):  # the client's connection pool fills up (bounded: 10 per pool)
        sandbox.run(SandboxJob(tree=tree, timeout=30, name=job_name()), io.BytesIO())
    before = fds()
    for _ in range(12):
        sandbox.run(SandboxJob(tree=tree, timeout=30, name=job_name()), io.BytesIO())
    assert fds() <= before + 2


@pytest.mark.parametrize("output", ["attach", "file"])
def test_both_output_modes_are_exact_and_keep_stderr_apart(tmp_path, output):
    main = (
        "import sys\n"
        "sys.stdout.buffer.write(bytes(range(256)) * 4096 + 'é\\n'.encode())\n"
        "print('to stderr', file=sys.stderr)\n"
        "sys.exit(5)\n"
    )
    result, out, _ = run(tmp_path, main, output=output)
    assert out == bytes(range(256)) * 4096 + "é\n".encode()
    assert result.bytes_out == len(out)
    assert result.exit_code == 5 and result.stderr_tail == "to stderr"


def test_file_output_mode_lets_the_script_write_only_its_stdout(tmp_path):
    main = LOCKDOWN + (
        "print('out_dir', attempt('/memo-out/other'))\n"
        "print('scripts_out', attempt('/scripts/.memo-out/other'))\n"
    )
    result, out, job = run(tmp_path, main, output="file")
    assert result.ok, result.stderr_tail
    lines = dict(line.split(" ", 1) for line in out.decode().splitlines())
    assert lines["tree"] != "WROTE" and lines["root"] != "WROTE" and lines["tmp"] == "WROTE"
    assert lines["out_dir"] != "WROTE" and lines["scripts_out"] != "WROTE"
    assert not (job.tree / ".memo-out").exists()  # removed after the run


def test_file_output_mode_timeout_and_memory(tmp_path):
    result, out, _ = run(tmp_path, "import time\nprint('a', flush=True)\ntime.sleep(60)\n", timeout=2, output="file")
    assert result.timed_out and out == b"a\n"
    result, out, _ = run(tmp_path, "x = bytearray(512 << 20)\n", memory="64m", output="file")
    assert result.exit_code == 137 and "out of memory" in result.detail


def test_engine_too_old_is_refused_before_any_container(tmp_path, monkeypatch, api):
    sandbox = make_sandbox(docker_settings(tmp_path))
    client = sandbox.engine.client()
    old = {"Version": "20.10.24", "ApiVersion": "1.41", "Components": [{"Name": "Engine", "Version": "20.10.24"}]}
    monkeypatch.setattr(client, "version", lambda *a, **k: old)
    assert any("20.10.24 is too old" in p for p in sandbox.problems())
    name = job_name()
    with pytest.raises(SandboxUnavailable, match="24.0.7"):
        sandbox.run(SandboxJob(tree=make_tree(tmp_path, "print(1)\n"), timeout=10, name=name), io.BytesIO())
    assert containers_named(api, name) == []


def test_the_podman_service_we_start_works_in_its_state_folder():
    """conmon drops an ``oom`` file in its working directory after an OOM kill (the memory
    tests cause one): the service docker/podman-up.sh starts must not work in the checkout."""
    from pathlib import Path

    state = Path(os.environ.get("MEMO_PODMAN_DIR") or Path(__file__).resolve().parents[2] / "var" / "podman")
    pid_file = state / "podman.pid"
    if not pid_file.exists():
        pytest.skip("this engine was not started by docker/podman-up.sh")
    cwd = Path(f"/proc/{int(pid_file.read_text())}/cwd").resolve()
    assert cwd == state.resolve()
