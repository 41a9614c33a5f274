"""The production setup as deploy/ prescribes it, started for real, and the probes of issue 12.

- ``Unit``: a deploy/*.service file read as systemd reads it (``Environment=``, then the
  ``EnvironmentFile=`` files in order, ``WorkingDirectory=``, ``ExecStart=``), with the
  production paths mapped onto a test folder: /etc/memo-taskrunner, /var/lib/memo-taskrunner,
  /opt/memo-taskrunner, port 4200. The tests start what the units start, so the two cannot
  drift apart.
- ``Host``: /etc/memo-taskrunner of one test - secrets.env made by ``memo-taskrunner
  setup-secrets``, memo.env from deploy/memo-taskrunner.env.example with the test's database,
  folders, image and engine.
- ``probe_script``: a guard-clean MEMO script (``json`` and ``urllib.request`` only) that tries
  the Prefect API and the runner's HTTP API and prints what it reached; run in the container
  by the runner, and on the host as the control.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.docker.conftest import IMAGE, docker_host
from tests.flows.conftest import stop_process_group

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PRODUCTION_PORT = 4200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_env_file(path: Path) -> dict[str, str]:
    from memo.secrets_file import read_env_file as read

    return read(path)


@dataclass
class Host:
    """One test's /etc/memo-taskrunner and /var/lib/memo-taskrunner, and the Prefect server's port."""

    etc: Path
    var: Path
    prefect_port: int

    @property
    def secrets(self) -> dict[str, str]:
        return read_env_file(self.etc / "secrets.env")

    @property
    def memo_env(self) -> dict[str, str]:
        return read_env_file(self.etc / "memo.env")

    @property
    def prefect_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    def map(self, text: str) -> str:
        """A unit's production paths and port, on this test host."""
        for production, here in (("/etc/memo-taskrunner", self.etc), ("/var/lib/memo-taskrunner", self.var),
                                 ("/opt/memo-taskrunner/.venv/bin", BIN), ("/opt/memo-taskrunner", ROOT)):
            text = text.replace(production, str(here))
        return re.sub(rf"\b{PRODUCTION_PORT}\b", str(self.prefect_port), text).replace("%H", socket.gethostname())

    def operator_env(self, **extra: str) -> dict[str, str]:
        """A root shell after the README's `set -a; . memo.env; . secrets.env; set +a`."""
        env = dict(base_env(self), PREFECT_API_URL=self.prefect_url, **self.memo_env)
        env.update(self.secrets, **extra)
        return env


def make_host(tmp: Path, **memo_env: str) -> Host:
    """secrets.env by the real command; memo.env = the env example with ``memo_env`` set."""
    host = Host(etc=tmp / "etc", var=tmp / "var", prefect_port=free_port())
    host.var.mkdir(parents=True)
    done = subprocess.run([str(BIN / "memo-taskrunner"), "setup-secrets", "--dir", str(host.etc)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = []
    for line in (ROOT / "deploy" / "memo-taskrunner.env.example").read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={memo_env.pop(key)}" if not line.startswith("#") and key in memo_env else line)
    lines += [f"{key}={value}" for key, value in memo_env.items()]
    (host.etc / "memo.env").write_text("\n".join(lines) + "\n")
    return host


def memo_env_for(tmp: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The memo.env values a test host needs: its database, folders, script image and engine."""
    values = dict(MEMO_DATABASE_URL=database_url, MEMO_EXPORTS_DIR=str(tmp / "exports"),
                  MEMO_WORK_DIR=str(tmp / "work"), MEMO_DOCKER_IMAGE=IMAGE, MEMO_TASK_TIMEOUT="60",
                  MEMO_BUSY_HOURS="0", **extra)
    if docker_host():
        values["MEMO_CONTAINER_DOCKER_HOST"] = docker_host()
    return values


def base_env(host: Host) -> dict[str, str]:
    """What systemd starts a service with before the unit's own settings (HOME: the service
    user's, here the test's, so no Prefect profile of this machine applies)."""
    home = host.var / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home)}


@dataclass
class Unit:
    name: str
    environment: dict[str, str]
    environment_files: list[tuple[str, bool]]  # (path, required)
    working_directory: str
    exec_start: list[str]

    @classmethod
    def read(cls, name: str) -> "Unit":
        environment, files, workdir, argv = {}, [], "/", []
        for line in (ROOT / "deploy" / name).read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "Environment":
                name_, _, setting = value.partition("=")
                environment[name_] = setting
            elif key == "EnvironmentFile":
                files.append((value.lstrip("-"), not value.startswith("-")))
            elif key == "WorkingDirectory":
                workdir = value
            elif key == "ExecStart":
                argv = shlex.split(value)
        return cls(name, environment, files, workdir, argv)

    def env(self, host: Host, **extra: str) -> dict[str, str]:
        """systemd's order: Environment=, then each EnvironmentFile= (later wins); ``extra`` last."""
        env = base_env(host)
        env.update({k: host.map(v) for k, v in self.environment.items()})
        for path, required in self.environment_files:
            path = Path(host.map(path))
            assert path.exists() or not required, f"{self.name} needs {path}"
            if path.exists():
                env.update(read_env_file(path))
        env.update(extra)
        return env

    def start(self, host: Host, log: Path, **extra: str) -> subprocess.Popen:
        return subprocess.Popen([host.map(a) for a in self.exec_start], env=self.env(host, **extra),
                                cwd=host.map(self.working_directory), stdout=open(log, "wb"),
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.3)


class PrefectServerUnit:
    """``prefect server start`` as deploy/prefect-server.service starts it (its secrets included)."""

    def __init__(self, host: Host):
        self.host = host
        self.log = host.var / "prefect-server.log"
        self.proc = Unit.read("prefect-server.service").start(host, self.log)

    def wait(self) -> str:
        wait_http(f"{self.host.prefect_url}/health", self.proc, self.log)
        return self.host.prefect_url

    def stop(self) -> None:
        stop_process_group(self.proc)


class ClosedPlane:
    """A host set up as the README says (``make_host``), its Prefect server unit started, a MEMO
    database on MariaDB; memo.env names a free port for the HTTP API of ``serve``. ``wait()``
    until the server answers; ``stop()`` ends the server and drops the database."""

    def __init__(self, tmp: Path):
        import sqlalchemy as sa

        from memo import schema
        from tests.conftest import Memo, _mariadb_database

        self._admin, self._name, url = _mariadb_database()
        try:
            engine = sa.create_engine(url)
            schema.create_schema(engine)
            engine.dispose()
            self.host = make_host(tmp, **memo_env_for(tmp, url, MEMO_HTTP_PORT=str(free_port())))
            self.server = PrefectServerUnit(self.host)
        except BaseException:
            self._drop()
            raise
        self.memo = Memo(url)

    def wait(self) -> None:
        self.server.wait()

    def stop(self) -> None:
        self.server.stop()
        self.memo.engine.dispose()
        self._drop()

    def _drop(self) -> None:
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{self._name}`")
        self._admin.dispose()


# --- the probes ---------------------------------------------------------------------------------

PROBE = '''\
import json
import urllib.error
import urllib.request

TARGETS = {targets}


def probe(target):
    data = None if target["body"] is None else json.dumps(target["body"]).encode()
    request = urllib.request.Request(target["url"], data=data, method=target["method"], headers=target["headers"])
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return {{"connected": True, "status": response.status}}
    except urllib.error.HTTPError as exc:
        return {{"connected": True, "status": exc.code}}
    except urllib.error.URLError as exc:
        return {{"connected": False, "error": repr(exc.reason)}}
    except Exception as exc:
        return {{"connected": True, "error": repr(exc)}}


print(json.dumps({{name: probe(target) for name, target in TARGETS.items()}}, sort_keys=True))
'''


def prefect_targets(api_url: str, auth: str) -> dict[str, dict]:
    """The finding's request - every block's secrets - without and with the real credentials."""
    basic = "Basic " + base64.b64encode(auth.encode()).decode()
    request = dict(url=f"{api_url}/block_documents/filter", method="POST", body={"include_secrets": True})
    return {
        "prefect without auth": dict(request, headers={"Content-Type": "application/json"}),
        "prefect with auth": dict(request, headers={"Content-Type": "application/json", "Authorization": basic}),
    }


def http_targets(base_url: str, token: str) -> dict[str, dict]:
    """The runner's HTTP API: its open probe, and a run request with the real token."""
    unknown = "00000000-0000-4000-8000-000000000000"
    return {
        "http health": dict(url=f"{base_url}/health", method="GET", body=None, headers={}),
        "http with token": dict(url=f"{base_url}/dryruntask/{unknown}", method="GET", body=None,
                                headers={"Authorization": f"Bearer {token}"}),
    }


def probe_script(targets: dict[str, dict]) -> str:
    return PROBE.format(targets=repr(targets))


def probe_from_host(targets: dict[str, dict]) -> dict[str, dict]:
    """The same script, run on the host: what a script would reach without the boundary."""
    done = subprocess.run([sys.executable, "-c", probe_script(targets)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


HOST_EXPECTED = {"prefect without auth": 401, "prefect with auth": 200, "http health": 200, "http with token": 404}


def assert_closed(from_container: dict[str, dict], from_host: dict[str, dict]) -> None:
    """Every probe reached its target from the host (so this can fail) and none from the script."""
    assert set(from_container) == set(from_host)
    for name, seen in from_host.items():
        assert seen == {"connected": True, "status": HOST_EXPECTED[name]}, (name, seen)
    reached = {name: seen for name, seen in from_container.items() if seen["connected"]}
    assert not reached, f"the script reached the control plane: {reached}"


def guard_is_clean(script: str, tmp: Path) -> None:
    path = tmp / "probe.py"
    path.write_text(script)
    done = subprocess.run([str(BIN / "memo-taskrunner"), "guard", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def export_of(exports: Path, username: str, file_name: str) -> dict[str, dict]:
    return json.loads((exports / username / file_name).read_text())
