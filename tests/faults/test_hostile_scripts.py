"""Hostile scripts in the container, through the whole Runner: task row in MariaDB → guard
(off: ``unguarded_policy()``, so the script gets to try) → tree → DockerSandbox → export → runlog.

Each attempt is contained (it finds nothing, or it is stopped), reported (the outcome and
the runlog row say why) and cleaned up (no container left, the previous export whole).
tests/docker/test_sandbox.py shows the same limits on the sandbox alone; here they go
through the runner's export and runlog.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from memo.runner import Runner
from tests.conftest import unguarded_policy
from tests.docker.conftest import docker_host
from tests.faults.conftest import ROOT, containers_of, settings_for

pytestmark = [pytest.mark.docker, pytest.mark.mariadb]

PREVIOUS = b"<export version='yesterday'/>\n"


@pytest.fixture
def hostile(memo, tmp_path, database_url):
    """``hostile(body, url=None, **container) -> (outcome, settings, task_id)``: run ``body`` as
    abccorp/evil.xml in the container, over a previous export, and check the clean-up."""

    def run(body: str, *, url: str | None = None, timeout: float = 60, **container):
        task_id = memo.task("abccorp", "evil.xml", body, sql=None)
        settings = settings_for(tmp_path, url or database_url, "docker", task_timeout=timeout, **container)
        client = settings.exports_dir / "abccorp"
        client.mkdir(parents=True, exist_ok=True)
        (client / "evil.xml").write_bytes(PREVIOUS)
        runner = Runner(settings, policy=unguarded_policy())
        try:
            outcome = runner.run_task(task_id)
        finally:
            runner.db.dispose()
        assert containers_of(task_id) == [], "the container was left behind"
        assert not any(p.name.startswith("run-") and p.name != "run-decoy" for p in settings.work_dir.iterdir())
        assert os.listdir(settings.exports_dir / ".partial") == []
        rows = memo.runlog(task_id)
        assert [(bool(r.is_success), r.message) for r in rows] == [(outcome.success, outcome.message)]
        if not outcome.success:
            assert (client / "evil.xml").read_bytes() == PREVIOUS
        return outcome, settings, task_id

    return run


def report(settings) -> dict:
    return json.loads((settings.exports_dir / "abccorp" / "evil.xml").read_text())


ESCAPE = r'''
import json, os
paths, writes = PATHS, WRITES
def probe(path):
    try:
        if os.path.isdir(path):
            return "dir:" + ",".join(sorted(os.listdir(path)))
        with open(path, "rb") as f:
            return "read:" + f.read(200).decode("latin-1")
    except FileNotFoundError:
        return "absent"
    except PermissionError:
        return "denied"
    except OSError as exc:
        return "error:%d" % exc.errno
def attempt(path):
    try:
        with open(path, "w") as f:
            f.write("evil")
        return "WROTE"
    except OSError as exc:
        return "refused:%d" % exc.errno
found = {"read " + p: probe(p) for p in paths}
found.update({"write " + p: attempt(p) for p in writes})
found["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print(json.dumps(found))
'''


def test_reads_and_writes_outside_its_tree_find_nothing_and_change_nothing(hostile, tmp_path):
    # What lies around the run on the host: other runs' trees, other clients' exports, secrets.
    (tmp_path / "host-secret.txt").write_text("SECRET on the host")
    decoy = tmp_path / "work" / "run-decoy"
    decoy.mkdir(parents=True)
    (decoy / "main.py").write_text("print('another run: SECRET')")
    (tmp_path / "exports" / "otherclient").mkdir(parents=True)
    (tmp_path / "exports" / "otherclient" / "their.xml").write_text("SECRET export of another client")
    socket_path = (docker_host() or "").removeprefix("unix://")
    host_paths = [str(tmp_path / "host-secret.txt"), str(decoy / "main.py"), str(tmp_path / "work"),
                  str(tmp_path / "exports"), str(tmp_path / "exports" / "otherclient" / "their.xml"),
                  str(ROOT), socket_path, "/var/run/mysqld/mysqld.sock", "/scripts/../run-decoy/main.py"]
    paths = host_paths + ["/scripts", "/etc/shadow", "/root"]
    refused = ["/scripts/main.py", "/scripts/new.py", "/evil", "/etc/evil", "/home/evil", "/run/evil",
               "/usr/lib/python3/dist-packages/evil.py", "/usr/local/bin/python3"]
    # Scratch space private to the container, gone with it: the tmpfs /tmp (MEMO_CONTAINER_TMPFS_SIZE)
    # and, on Podman, its read-only-root tmpfs /var/tmp and /dev/shm (bounded by the memory limit,
    # see test_filling_scratch_space_is_bounded).
    scratch = ["/tmp/evil", "/var/tmp/evil", "/dev/shm/evil"]
    writes = refused + scratch
    body = f"PATHS = {paths!r}\nWRITES = {writes!r}\n" + ESCAPE
    before = {p for p in tmp_path.rglob("*")}

    outcome, settings, _ = hostile(body)

    assert outcome.success, outcome.message
    found = report(settings)
    for path in host_paths:
        assert found["read " + path] == "absent", (path, found["read " + path])
    # Its own tree, nothing else (.memo-net: the sockets of its allowed endpoints, docs/docker.md).
    assert found["read /scripts"] == "dir:.memo-net,main.py"
    assert found["read /etc/shadow"] == "denied" and found["read /root"] == "denied"
    for path in refused:
        assert found["write " + path].startswith("refused:"), (path, found["write " + path])
    assert found["write /tmp/evil"] == "WROTE"
    assert len(found["processes"]) <= 2  # its own pid namespace: no host process to look at
    # Nothing appeared on the host but the export itself (and the runner's lock files and the
    # history of the export it replaced).
    new = {p for p in tmp_path.rglob("*")} - before
    assert {p for p in new if not {"locks", ".history"} & set(p.parts) and p.is_file()} <= {
        settings.exports_dir / "abccorp" / "evil.xml"}
    assert not any("evil" == p.name for p in tmp_path.rglob("evil"))


SNOOP = r'''
import json, os
seen = {"env": dict(os.environ)}
for name in ("/proc/1/environ", "/proc/1/cmdline", "/proc/self/mountinfo"):
    try:
        seen[name] = open(name, "rb").read().decode("latin-1")
    except OSError as exc:
        seen[name] = "error %s" % exc
files = {}
for top in ("/run", "/var/run", "/tmp", "/scripts", "/etc", "/home", "/root", "/opt", "/srv", "/mnt", "/media"):
    for folder, dirs, names in os.walk(top):
        for name in names:
            path = os.path.join(folder, name)
            try:
                if os.path.getsize(path) < 65536:
                    files[path] = open(path, "rb").read().decode("latin-1")
                else:
                    files[path] = "(large)"
            except OSError as exc:
                files[path] = "error %s" % exc.errno
seen["files"] = files
print(json.dumps(seen))
'''


@pytest.mark.parametrize("network", ["none", "host"])
def test_the_runners_secrets_are_out_of_reach(hostile, limited_user, monkeypatch, network):
    """The runner's environment, its database password, the engine's socket: none in the box
    (network ``none``, the default, with its egress forwarder as PID 1; and ``host``, the
    opt-out, where the script also sits on the runner's loopback)."""
    url = limited_user("SELECT, INSERT")
    password = url.split(":")[2].split("@")[0]
    monkeypatch.setenv("MEMO_SECRET_TOKEN", "tok-4f1c0ffee")
    monkeypatch.setenv("MEMO_DATABASE_URL", url)
    outcome, settings, _ = hostile(SNOOP, url=url, network=network,
                                   environment={"LIBRARY_DB_HOST": "127.0.0.1"})
    assert outcome.success, outcome.message
    raw = (settings.exports_dir / "abccorp" / "evil.xml").read_text()
    assert password not in raw and "tok-4f1c0ffee" not in raw
    seen = json.loads(raw)
    assert set(seen["env"]) <= {"PATH", "HOSTNAME", "HOME", "LANG", "TMPDIR", "PYTHONDONTWRITEBYTECODE",
                                "PYTHONNOUSERSITE", "container", "LIBRARY_DB_HOST", "TERM"}, seen["env"]
    assert seen["env"]["LIBRARY_DB_HOST"] == "127.0.0.1"  # what the runner chose to pass, only that
    # The only sockets: those of its allowed endpoints (network none), in its own tree.
    sockets = [name for name in seen["files"] if name.endswith(".sock")]
    assert all(name.startswith("/scripts/.memo-net/") for name in sockets), sorted(seen["files"])
    assert len(sockets) == (1 if network == "none" else 0), sockets
    assert "error" in seen["/proc/1/environ"] or network == "host"  # the forwarder is not dumpable
    assert not any(name.startswith("/run/secrets") for name in seen["files"])


@pytest.mark.parametrize("folder, expected", [
    ("/tmp", "Script exited with code 1:"),  # its tmpfs size limit: ENOSPC, the script fails
    ("/var/tmp", "Script exited with code 137 "),  # Podman's tmpfs: counts against the memory limit
], ids=["tmp", "var-tmp"])
def test_filling_scratch_space_is_bounded(hostile, folder, expected):
    body = (
        "import sys\n"
        "print('<partial/>', flush=True)\n"
        f"with open('{folder}/fill', 'wb') as f:\n"
        "    while True:\n"
        "        f.write(b'x' * (1 << 20))\n"
        "        f.flush()\n"
    )
    started = time.monotonic()
    outcome, _, _ = hostile(body, tmpfs_size="8m", memory="64m")
    if folder == "/var/tmp" and outcome.message.startswith("Script exited with code 1:"):
        pytest.skip("/var/tmp is not a tmpfs on this engine (Docker: read-only): " + outcome.message)
    assert not outcome.success and outcome.kind == "script"
    assert outcome.message.startswith(expected), outcome.message
    assert ("No space left on device" if folder == "/tmp" else "out of memory (limit 64m)") in outcome.message
    assert time.monotonic() - started < 30


def test_exhausting_memory_is_stopped_and_reported(hostile):
    body = "print('<partial/>', flush=True)\nhog = []\nwhile True:\n    hog.append(bytearray(16 << 20))\n"
    outcome, _, _ = hostile(body, memory="64m")
    assert not outcome.success and outcome.kind == "script"
    assert "Script exited with code 137" in outcome.message
    assert "out of memory" in outcome.message and "64m" in outcome.message


def test_a_fork_bomb_is_held_by_the_pids_limit_and_stopped(hostile):
    body = (
        "import os\n"
        "print('<partial/>', flush=True)\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass\n"
    )
    before = len([p for p in os.listdir("/proc") if p.isdigit()])
    outcome, _, _ = hostile(body, timeout=4, pids_limit=32, cpus=0.5)
    assert not outcome.success and outcome.kind == "timeout"
    assert outcome.message.startswith("Script timed out after 4 s and was stopped")
    assert subprocess.run(["true"]).returncode == 0  # the host can still fork
    assert len([p for p in os.listdir("/proc") if p.isdigit()]) < before + 20


def test_sleeping_forever_is_stopped_at_the_timeout(hostile):
    body = "import time\nprint('<partial/>', flush=True)\nwhile True:\n    time.sleep(3600)\n"
    started = time.monotonic()
    outcome, _, _ = hostile(body, timeout=2)
    assert not outcome.success and outcome.kind == "timeout"
    assert outcome.message.startswith("Script timed out after 2 s and was stopped")
    assert time.monotonic() - started < 20
