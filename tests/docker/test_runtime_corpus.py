"""The red team's routes around the run-time guard, replayed in the real container: none gets out.

``tests/guard/corpus/runtime/`` holds the attempts of an attacker who had not seen the code
(each file's first line names its technique). Each runs as ``main.py`` in a fresh container
shaped as the docker sandbox shapes it (image python3, network none, read-only root, user
65534, no capabilities), under the launcher with the default policy's run-time part, with the
static guard out of the way: only the run-time layer stands between it and three canaries:

- READ: ``/canary/secret.txt``, a file outside the tree, whose random content must not reach stdout;
- EXEC: ``/canary/bin/reveal``, an execute-only program whose secret only running it prints;
- WRITE: ``/canary/out/``, a writable folder outside the tree, which must stay empty.

(The canaries exist only here: in production nothing outside the tree is writable but a
small tmpfs, and nothing readable is secret.) A control run without the launcher shows that
the canaries do catch an escape.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from guard import default_policy
from guard.runtime import LAUNCHER, launcher_command, parse_refusal, runtime_policy
from tests.docker.conftest import IMAGE, docker_host

pytestmark = [pytest.mark.docker]

CORPUS = Path(__file__).resolve().parents[1] / "guard" / "corpus" / "runtime"
ATTEMPTS = sorted(CORPUS.glob("*.py"))
REVEAL_C = '#include <stdio.h>\nint main(void) { puts("EXEC-SECRET-" SECRET); return 0; }\n'


class Canaries:
    """The three canaries in a folder of the test's, and a container that sees them."""

    def __init__(self, root: Path):
        self.root = root
        self.exec_secret = secrets.token_hex(8)
        (root / "bin").mkdir(parents=True)
        source = root / "reveal.c"
        source.write_text(REVEAL_C)
        subprocess.run(["gcc", "-static", "-O2", f'-DSECRET="{self.exec_secret}"', "-o",
                        str(root / "bin" / "reveal"), str(source)], check=True, capture_output=True)
        source.unlink()
        os.chmod(root / "bin" / "reveal", 0o111)  # execute-only: running it is the only way to its secret
        for path in (root, root / "bin"):
            os.chmod(path, 0o755)
        import docker

        self.docker = docker
        self.api = docker.APIClient(base_url=docker_host(), version="1.41", timeout=120)

    def run(self, script: Path, *, launched: bool = True, timeout: float = 30) -> dict:
        out_dir = self.root / "out"
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir()
        os.chmod(out_dir, 0o777)
        read_secret = secrets.token_hex(8)
        (self.root / "secret.txt").write_text(f"READ-SECRET-{read_secret}\n")
        os.chmod(self.root / "secret.txt", 0o644)
        tree = self.root / f"tree-{secrets.token_hex(3)}"
        tree.mkdir(mode=0o755)
        shutil.copy(script, tree / "main.py")
        os.chmod(tree / "main.py", 0o644)
        nonce = secrets.token_hex(8)
        Mount = self.docker.types.Mount
        mounts = [Mount("/scripts", str(tree), type="bind", read_only=True),
                  Mount("/canary/secret.txt", str(self.root / "secret.txt"), type="bind", read_only=True),
                  Mount("/canary/bin", str(self.root / "bin"), type="bind", read_only=True),
                  Mount("/canary/out", str(out_dir), type="bind", read_only=False)]
        command = ["python3", "main.py"]
        if launched:
            mounts.append(Mount("/memo/launcher.py", str(LAUNCHER), type="bind", read_only=True))
            command = launcher_command("python3", "/memo/launcher.py", runtime_policy(default_policy()),
                                       "/scripts", "main.py", nonce=nonce)
        host_config = self.api.create_host_config(
            network_mode="none", mounts=mounts, read_only=True, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], pids_limit=256, mem_limit="512m",
            tmpfs={"/tmp": "rw,nosuid,nodev,size=64m,mode=1777"})
        cid = self.api.create_container(IMAGE, command, host_config=host_config, user="65534:65534",
                                        working_dir="/scripts", environment={"HOME": "/tmp", "LANG": "C.UTF-8"})["Id"]
        try:
            self.api.start(cid)
            try:
                status = self.api.wait(cid, timeout=timeout)["StatusCode"]
            except Exception:  # noqa: BLE001 - a hang is contained too; the container goes
                self.api.kill(cid)
                status = None
            stdout = self.api.logs(cid, stdout=True, stderr=False).decode("utf-8", "replace")
            stderr = self.api.logs(cid, stdout=False, stderr=True).decode("utf-8", "replace")
        finally:
            self.api.remove_container(cid, force=True)
            shutil.rmtree(tree, ignore_errors=True)
        escapes = []
        if f"READ-SECRET-{read_secret}" in stdout + stderr:
            escapes.append("READ")
        if f"EXEC-SECRET-{self.exec_secret}" in stdout + stderr:
            escapes.append("EXEC")
        if os.listdir(out_dir):
            escapes.append(f"WRITE {sorted(os.listdir(out_dir))}")
        return {"status": status, "stdout": stdout, "stderr": stderr, "escapes": escapes,
                "refusal": parse_refusal(status, stderr, nonce)}


@pytest.fixture(scope="module")
def canaries(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the execute-only canary")
    root = tmp_path_factory.mktemp("canaries")
    os.chmod(root, 0o755)
    c = Canaries(root)
    yield c
    c.api.close()


def test_the_corpus_holds_the_red_teams_routes():
    assert len(ATTEMPTS) >= 50
    for path in ATTEMPTS:
        assert path.read_text().startswith("# "), f"{path.name}: the first line names the technique"


def test_the_canaries_catch_an_escape_when_the_launcher_is_off(canaries):
    result = canaries.run(CORPUS / "read_direct_open.py", launched=False)
    assert result["escapes"] == ["READ"], result
    result = canaries.run(CORPUS / "write_mkfifo.py", launched=False)
    assert result["escapes"] and result["escapes"][0].startswith("WRITE"), result


@pytest.mark.parametrize("path", ATTEMPTS, ids=lambda p: p.stem)
def test_no_route_gets_past_the_run_time_guard(canaries, path):
    result = canaries.run(path)
    assert result["escapes"] == [], (path.name, result["escapes"], result["stdout"][-800:], result["stderr"][-800:])
