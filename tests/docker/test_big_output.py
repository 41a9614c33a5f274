"""1 GiB of stdout through the docker sandbox: byte-exact, with the runner's memory flat.

The sandbox runs in a child Python process (a fresh interpreter, as the runner
is) writing into a real file; the child reports its own peak RSS.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from tests.docker.conftest import ROOT, docker_host, job_name, make_tree

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BLOCK = 64 * 1024
BLOCKS = 16 * 1024  # 1 GiB
RSS_LIMIT_MB = 300

# Every block carries its number: a gap, a repeat or a reordering changes the hash.
SCRIPT = f"""\
import sys
base = bytes((i * 7 + 3) % 251 for i in range({BLOCK}))
out = sys.stdout.buffer
for i in range({BLOCKS}):
    out.write(i.to_bytes(8, "big") + base[8:])
sys.stderr.write("wrote {BLOCKS} blocks\\n")
"""

CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
from memo.sandbox.base import SandboxJob
from memo.sandbox import make_sandbox
from memo.settings import ContainerSettings, Settings

host, image, tree, name, target, output = sys.argv[1:7]
settings = Settings(sandbox="docker", docker_image=image, task_timeout=600,
                    container=ContainerSettings(docker_host=host, network="none", output=output))
started = time.monotonic()
with open(target, "wb") as out:
    result = make_sandbox(settings).run(SandboxJob(tree=Path(tree), timeout=600, name=name), out)
print(json.dumps({
    "ok": result.ok, "exit_code": result.exit_code, "bytes_out": result.bytes_out,
    "stderr": result.stderr_tail, "wall": time.monotonic() - started,
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (pytest) across exec.
    "maxrss_mb": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024,
}))
"""


def expected_sha256() -> str:
    base = bytes((i * 7 + 3) % 251 for i in range(BLOCK))
    h = hashlib.sha256()
    for i in range(BLOCKS):
        h.update(i.to_bytes(8, "big") + base[8:])
    return h.hexdigest()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@pytest.mark.parametrize("output", ["attach", "file"])
def test_one_gib_of_stdout_is_exact_and_runner_memory_flat(tmp_path, capsys, output):
    from tests.docker.conftest import IMAGE

    tree = make_tree(tmp_path, SCRIPT)
    target = tmp_path / "export.bin"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.run(
        [sys.executable, "-c", CHILD, docker_host(), IMAGE, str(tree), job_name("memo-big"), str(target), output],
        capture_output=True, text=True, timeout=580, env=env, cwd=ROOT,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    try:
        assert report["ok"], report
        assert report["stderr"] == f"wrote {BLOCKS} blocks"
        assert report["bytes_out"] == BLOCK * BLOCKS == target.stat().st_size
        assert file_sha256(target) == expected_sha256()
    finally:
        target.unlink(missing_ok=True)
    with capsys.disabled():
        print(f"\n1 GiB through the docker sandbox (output={output}): {report['wall']:.1f} s "
              f"({BLOCK * BLOCKS / report['wall'] / 1e6:.0f} MB/s), runner peak RSS "
              f"{report['maxrss_mb']:.0f} MB (limit {RSS_LIMIT_MB} MB)")
    assert report["maxrss_mb"] < RSS_LIMIT_MB
