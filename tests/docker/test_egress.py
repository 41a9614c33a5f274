"""Egress by allow-list through the real Docker API (Podman here) and the real MariaDB.

A script in the default container (network ``none``, ``MEMO_CONTAINER_ALLOW=127.0.0.1:3306``)
reaches the library database with mysql-connector, as a sniplet does, by the address or
by a listed host name, and nothing else on the host's loopback: not the runner's HTTP API,
not Redis or PostgreSQL, not a listener of the test's own; a non-loopback address has no
route. The probes the guard would accept use urllib and mysql.connector only; the lower-
level ones (``socket``, ``/proc``) run in the container alone.
"""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading
import time

import pytest

from memo.sandbox.base import SandboxJob
from memo.sandbox import make_sandbox
from memo.sandbox.egress import FORWARDER, FORWARDER_MOUNT, NET_DIR
from tests.docker.conftest import containers_named, docker_settings, job_name, make_tree
from tests.test_egress_unit import PeakRss

pytestmark = [pytest.mark.docker, pytest.mark.mariadb]

HOSTNAME = socket.gethostname()


def hostname_on_loopback() -> str | None:
    """Why this machine's hostname cannot stand for a database host name here, or None.

    Read from /etc/hosts, not resolved: a name missing there would go to the DNS server,
    which is not on loopback (these tests send nothing off loopback)."""
    addresses = set()
    for line in open("/etc/hosts", encoding="utf-8"):
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and HOSTNAME.lower() in (f.lower() for f in fields[1:]):
            addresses.add(fields[0])
    if not addresses:
        return f"this machine's hostname {HOSTNAME!r} is not in /etc/hosts"
    if not all(a.startswith("127.") or a == "::1" for a in addresses):
        return f"{HOSTNAME!r} is {sorted(addresses)} in /etc/hosts, not a loopback address"
    return None


def mariadb_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 3306), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _needs_mariadb():
    if not mariadb_up():
        pytest.skip("MariaDB is not listening on 127.0.0.1:3306")


def run(tmp_path, main, *, timeout=60, sandbox=None, **container):
    """Run ``main`` in the docker sandbox; (result, stdout, job). Checks nothing is left over:
    no container, no egress sockets, no relay thread."""
    sandbox = sandbox or make_sandbox(docker_settings(tmp_path, timeout=timeout, **container))
    tree = make_tree(tmp_path, main)
    job = SandboxJob(tree=tree, timeout=timeout, name=job_name("memo-egress-test"), labels={"task-id": "egress"})
    out = io.BytesIO()
    result = sandbox.run(job, out)
    assert containers_named(sandbox.engine.client(), job.name) == [], "the container was left behind"
    assert not (tree / NET_DIR).exists(), "the egress sockets were left behind"
    assert [t for t in threading.enumerate() if t.name == f"memo-egress-{job.name}" and t.is_alive()] == []
    return result, out.getvalue(), job


def assert_guard_clean(body: str) -> None:
    from guard import check_source, refusal_message

    assert refusal_message([check_source(body, name="probe:egress")]) is None


PROBE = '''
import json
import urllib.error
import urllib.request

import mysql.connector


def http(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return "reached %d" % answer.status
    except urllib.error.HTTPError as exc:
        return "reached %d" % exc.code
    except urllib.error.URLError as exc:
        return "unreachable: %s" % exc.reason
    except OSError as exc:
        return "unreachable: %s" % exc


def database(host):
    try:
        connection = mysql.connector.connect(host=host, port=3306, user="root", connection_timeout=10)
    except mysql.connector.Error as exc:
        return "unreachable: %s" % exc
    cursor = connection.cursor()
    cursor.execute("SELECT 6 * 7")
    (answer,) = cursor.fetchone()
    connection.close()
    return "reached %d" % answer


print(json.dumps({
    "http": {name: http(url) for name, url in TARGETS["http"].items()},
    "database": {host: database(host) for host in TARGETS["database"]},
}))
'''


def probe(targets: dict) -> str:
    body = f"TARGETS = {targets!r}\n" + PROBE
    assert_guard_clean(body)
    return body


@pytest.fixture
def runner_api(tmp_path):
    """The runner's real HTTP API (api/, with a bearer token) on a free port of the host's loopback."""
    from api.app import create_app
    from api.runs import make_run
    from tests.api.conftest import live_server
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "api", f"sqlite:///{tmp_path / 'api.sqlite'}", http_token="tok-egress-1")
    with live_server(create_app(settings, make_run(settings, "direct"))) as url:
        yield url


@pytest.fixture
def listener():
    """Another port listening on the host's loopback (a stand-in for any local service)."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


def host_http(url: str) -> str:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return f"reached {answer.status}"
    except urllib.error.HTTPError as exc:
        return f"reached {exc.code}"


def listening_on_host(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def test_only_the_allowed_database_is_reached_from_a_guard_clean_script(tmp_path, runner_api, listener, caplog):
    port = int(runner_api.rsplit(":", 1)[1])
    http = {
        "runner API": f"{runner_api}/runtask/00000000-0000-0000-0000-000000000000",
        "runner API by localhost": f"http://localhost:{port}/runtask/x",
        "another loopback port": f"http://127.0.0.1:{listener}/",
        "Redis": "http://127.0.0.1:6379/",
        "PostgreSQL": "http://127.0.0.1:5432/",
        "MariaDB's other address": "http://127.0.0.2:3306/",
    }
    # On the host they all listen (the probes would see them with network host).
    assert host_http(http["runner API"]) == "reached 401"  # the real app, asking for its token
    assert listening_on_host(listener)
    caplog.set_level(logging.DEBUG, logger="memo.sandbox.egress")

    result, out, job = run(tmp_path, probe({"http": http, "database": ["127.0.0.1"]}))

    assert result.ok, result.stderr_tail
    seen = json.loads(out)
    assert seen["database"] == {"127.0.0.1": "reached 42"}
    for name, answer in seen["http"].items():
        assert answer.startswith("unreachable: [Errno 111] Connection refused"), (name, answer)
    summary = [r.message for r in caplog.records if r.message.startswith(f"egress of {job.name}:")]
    assert len(summary) == 1 and "127.0.0.1:3306 ×1" in summary[0]


def test_a_listed_host_name_reaches_the_database_as_a_sniplet_connects(tmp_path, caplog):
    why_not = hostname_on_loopback()
    if why_not:
        pytest.skip(why_not)
    caplog.set_level(logging.DEBUG, logger="memo.sandbox.egress")

    result, out, job = run(tmp_path, probe({"http": {}, "database": [HOSTNAME, HOSTNAME.upper()]}),
                           allow=f"{HOSTNAME}:3306")

    assert result.ok, result.stderr_tail
    assert json.loads(out)["database"] == {HOSTNAME: "reached 42", HOSTNAME.upper(): "reached 42"}
    summary = [r.message for r in caplog.records if r.message.startswith(f"egress of {job.name}:")]
    assert len(summary) == 1 and f"{HOSTNAME.lower()}:3306 ×2" in summary[0], summary


NAMESPACE = r'''
import json, socket
interfaces = [line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:]]
seen = {"interfaces": interfaces, "hosts": open("/etc/hosts").read()}
def connect(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
        return "reached"
    except OSError as exc:
        return "%s: %s" % (type(exc).__name__, exc.strerror)
seen["by name's own address"] = connect("127.0.0.2", 3306)
if interfaces == ["lo"]:  # only then: a connect fails without sending anything
    seen["non-loopback"] = {target: connect(target, 3306) for target in ("192.0.2.1", "10.0.0.1")}
# Bypassing the forwarder: each unix socket reaches its one allowed endpoint, no other.
import os
for name in sorted(os.listdir("/scripts/.memo-net")):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect("/scripts/.memo-net/" + name)
    greeting = s.recv(5)
    seen["socket " + name] = "mysql greeting" if len(greeting) == 5 and greeting[4] == 10 else repr(greeting)
    s.close()
try:
    open("/proc/1/environ").read()
    seen["pid 1 environ"] = "readable"
except OSError as exc:
    seen["pid 1 environ"] = type(exc).__name__
seen["pid 1"] = open("/proc/1/cmdline").read().split("\0")[:5]
print(json.dumps(seen))
'''


def test_the_namespace_has_only_loopback_and_the_sockets_lead_only_to_the_endpoint(tmp_path):
    why_not = hostname_on_loopback()
    if why_not:
        pytest.skip(why_not)
    result, out, _ = run(tmp_path, NAMESPACE, allow=f"127.0.0.1:3306,{HOSTNAME}:3306")
    assert result.ok, result.stderr_tail
    seen = json.loads(out)
    assert seen["interfaces"] == ["lo"]
    assert seen["non-loopback"] == {"192.0.2.1": "OSError: Network is unreachable",
                                    "10.0.0.1": "OSError: Network is unreachable"}
    assert re.search(rf"^127\.0\.0\.2\s+{re.escape(HOSTNAME.lower())}$", seen["hosts"], re.M), seen["hosts"]
    assert seen["by name's own address"] == "reached"  # the forwarder listens there for the name
    assert seen["socket 0.sock"] == seen["socket 1.sock"] == "mysql greeting"  # both to MariaDB
    assert sorted(k for k in seen if k.startswith("socket ")) == ["socket 0.sock", "socket 1.sock"]
    assert seen["pid 1 environ"] == "PermissionError"  # the forwarder is not dumpable
    assert seen["pid 1"] == ["python3", "-I", "-S", "-B", FORWARDER_MOUNT]


CAP = '''
import json
import time

import mysql.connector

held, failed = [], []
for i in range(5):
    try:
        held.append(mysql.connector.connect(host="127.0.0.1", port=3306, user="root", connection_timeout=10))
    except mysql.connector.Error as exc:
        failed.append(type(exc).__name__)
for connection in held:
    connection.close()
time.sleep(0.5)  # a closed connection counts until both of its ends are closed
again = mysql.connector.connect(host="127.0.0.1", port=3306, user="root", connection_timeout=10)
again.close()
print(json.dumps({"held": len(held), "failed": failed, "again": "reached"}))
'''


def test_connections_over_the_cap_are_refused_and_the_cap_frees_again(tmp_path):
    assert_guard_clean(CAP)
    result, out, _ = run(tmp_path, CAP, max_connections=3)
    assert result.ok, result.stderr_tail
    seen = json.loads(out)
    assert seen["held"] == 3 and len(seen["failed"]) == 2 and seen["again"] == "reached", seen
    assert "memo-egress: refused a connection to 127.0.0.1:3306" in result.stderr_tail


DIRECT_CAP = r'''
import socket
answers = []
held = []
for _ in range(3):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect("/scripts/.memo-net/0.sock")
    held.append(s)
    answers.append(len(s.recv(5)))
print(answers)
'''


def test_the_runners_end_holds_the_cap_when_a_script_bypasses_the_forwarder(tmp_path, caplog):
    result, out, job = run(tmp_path, DIRECT_CAP, max_connections=2)
    assert result.ok, result.stderr_tail
    assert out == b"[5, 5, 0]\n"  # two MySQL greetings, then closed at once
    assert any(r.levelno == logging.WARNING and f"egress of {job.name}: refused a connection to 127.0.0.1:3306"
               in r.message for r in caplog.records)


BIG_QUERY = "SELECT seq, REPEAT(SHA2(seq, 256), 16) FROM mysql.seq_1_to_100000 ORDER BY seq"
BIG = '''
import hashlib
import json

import mysql.connector

connection = mysql.connector.connect(host=HOST, port=3306, user="root")
cursor = connection.cursor()
cursor.execute(QUERY)
digest = hashlib.sha256()
size = 0
for seq, text in cursor:
    row = ("%d:%s\\n" % (seq, text)).encode()
    digest.update(row)
    size += len(row)
connection.close()
print(json.dumps({"sha256": digest.hexdigest(), "bytes": size}))
'''


def big_query_on_host() -> dict:
    scope = {"HOST": "127.0.0.1", "QUERY": BIG_QUERY, "print": None}
    printed = []
    scope["print"] = printed.append
    exec(BIG, scope)  # the same code the container runs, on a direct connection
    return json.loads(printed[0])


def test_100_mb_of_query_results_arrive_exact_and_the_runners_memory_stays_flat(tmp_path, caplog):
    body = f"HOST = '127.0.0.1'\nQUERY = {BIG_QUERY!r}\n" + BIG
    assert_guard_clean(body)
    expected = big_query_on_host()
    assert expected["bytes"] > 100 * 1000 * 1000
    caplog.set_level(logging.DEBUG, logger="memo.sandbox.egress")
    sandbox = make_sandbox(docker_settings(tmp_path, timeout=300))
    run(tmp_path, "print('warm')\n", sandbox=sandbox)  # imports and the first client out of the way
    started = time.monotonic()
    with PeakRss() as rss:
        result, out, job = run(tmp_path, body, timeout=300, sandbox=sandbox)
    wall = time.monotonic() - started
    assert result.ok, result.stderr_tail
    assert json.loads(out) == expected
    summary = next(r.message for r in caplog.records if r.message.startswith(f"egress of {job.name}:"))
    to_script = int(re.search(r"(\d+) bytes to the script", summary).group(1))
    assert to_script > 100 * 1000 * 1000, summary  # it all came through the relay
    print(f"\n{to_script / 1e6:.0f} MB of query results through the egress relay in {wall:.1f} s; "
          f"runner RSS grew {rss.growth_mb:.1f} MB")
    assert rss.growth_mb < 30, f"the runner's memory grew by {rss.growth_mb:.1f} MB"


SLEEP_AND_TELL = '''
import json, os, time
print(json.dumps(dict(os.environ)), flush=True)
time.sleep(3)
'''


def test_no_runner_secret_is_in_the_containers_environment_mounts_or_command(tmp_path, api, monkeypatch):
    secrets = {"MEMO_DATABASE_URL": "mysql+pymysql://memo:db-pw-7f3a@127.0.0.1:3306/oapen_memo",
               "PREFECT_API_AUTH_STRING": "admin:prefect-pw-91c2", "MEMO_HTTP_TOKEN": "http-tok-55e1"}
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    settings = docker_settings(tmp_path, database_url=secrets["MEMO_DATABASE_URL"],
                               environment={"LIBRARY_DB_HOST": "127.0.0.1"})
    settings = settings.model_copy(update={"http_token": secrets["MEMO_HTTP_TOKEN"]})
    sandbox = make_sandbox(settings)
    tree = make_tree(tmp_path, SLEEP_AND_TELL)
    job = SandboxJob(tree=tree, timeout=30, name=job_name("memo-egress-secret"))
    out = io.BytesIO()
    results = []
    thread = threading.Thread(target=lambda: results.append(sandbox.run(job, out)))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not containers_named(api, job.name) and time.monotonic() < deadline:
            time.sleep(0.05)
        info = api.inspect_container(job.name)
    finally:
        thread.join(30)
    text = json.dumps(info)
    for value in (*secrets.values(), "db-pw-7f3a", "prefect-pw-91c2"):
        assert value not in text and value not in out.getvalue().decode()
    assert not any(e.split("=", 1)[0].startswith(("MEMO_", "PREFECT_", "DOCKER_")) for e in info["Config"]["Env"])
    sources = {m["Source"]: (m["Destination"], m["RW"]) for m in info["Mounts"] if m.get("Type") == "bind"}
    assert sources == {str(tree.resolve()): ("/scripts", False), str(FORWARDER): (FORWARDER_MOUNT, False)}
    assert info["HostConfig"]["NetworkMode"] == "none"
    assert info["Config"]["Cmd"][:5] == ["python3", "-I", "-S", "-B", FORWARDER_MOUNT]
    assert info["Config"]["Cmd"][-3:] == ["--", "python3", "main.py"]
    assert results and results[0].ok and json.loads(out.getvalue())["LIBRARY_DB_HOST"] == "127.0.0.1"


def test_a_listed_name_gets_its_own_loopback_address_through_extra_hosts(tmp_path, api):
    sandbox = make_sandbox(docker_settings(tmp_path, allow="127.0.0.1:3306,db.example.org:3306"))
    kwargs = sandbox.spec.create_kwargs(api, SandboxJob(tree=make_tree(tmp_path, "pass\n"), timeout=10, name="x"))
    assert kwargs["host_config"]["ExtraHosts"] == ["db.example.org:127.0.0.2"]
    assert kwargs["host_config"]["NetworkMode"] == "none"


@pytest.mark.parametrize("network, says", [
    ("host", "every port listening on this host's loopback"),
    ("bridge", "every address the engine's bridge routes to"),
    ("memo-some-net", "whatever the network 'memo-some-net' routes to"),
])
def test_a_network_other_than_none_warns_at_every_start(tmp_path, caplog, network, says):
    for _ in range(2):
        make_sandbox(docker_settings(tmp_path, network=network))
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING and r.name == "memo.sandbox.docker"]
    assert len(warnings) == 2 and all(says in w for w in warnings), warnings
    assert all("MEMO_CONTAINER_ALLOW does not apply" in w and "MEMO_CONTAINER_NETWORK=none" in w for w in warnings)


def test_network_none_says_what_scripts_reach_and_warns_of_nothing(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="memo.sandbox.docker")
    sandbox = make_sandbox(docker_settings(tmp_path))
    assert [r.levelno for r in caplog.records if r.name == "memo.sandbox.docker"] == [logging.INFO]
    assert "scripts reach only 127.0.0.1:3306" in caplog.records[-1].message
    assert sandbox.problems() == []


def test_doctor_names_an_allowed_host_that_does_not_resolve(tmp_path, monkeypatch):
    # The name's lookup fails here instead of asking the DNS server (not on loopback: these
    # tests send nothing off loopback); every other lookup is the real one.
    real = socket.getaddrinfo

    def no_dns(host, *args, **kwargs):
        if host == "memo-db.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    sandbox = make_sandbox(docker_settings(tmp_path, allow="127.0.0.1:3306,memo-db.invalid:3306"))
    problems = sandbox.problems()
    assert problems == ["MEMO_CONTAINER_ALLOW: memo-db.invalid does not resolve on this host (Name or service "
                        "not known); scripts connecting to memo-db.invalid:3306 will fail"]


def test_egress_works_with_file_output_and_keeps_exit_codes_and_kills(tmp_path):
    body = probe({"http": {}, "database": ["127.0.0.1"]}) + "raise SystemExit(3)\n"
    result, out, _ = run(tmp_path, body, output="file")
    assert result.exit_code == 3 and json.loads(out)["database"] == {"127.0.0.1": "reached 42"}
    result, _, _ = run(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert result.exit_code == 137 and "SIGKILL" in result.detail
