"""``python -m api.serve``, the process ``memo-taskrunner serve`` runs: starts, answers, stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path, sqlite_url, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "MEMO_DATABASE_URL": sqlite_url, "MEMO_EXPORTS_DIR": str(tmp_path / "exports"),
        "MEMO_WORK_DIR": str(tmp_path / "work"), "MEMO_SANDBOX": "process",
        "MEMO_HTTP_HOST": "127.0.0.1", "MEMO_HTTP_PORT": str(port), "MEMO_BUSY_HOURS": "0",
        "MEMO_HTTP_VIA": "direct", "PYTHONPATH": str(ROOT),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_then_stops_with_0_on_sigterm(tmp_path, sqlite_url, smemo):
    task_id = smemo.task("abccorp", "mytask.xml", "print('<served/>')")
    (tmp_path / "work" / "run-orphan").mkdir(parents=True)  # left by a crash: removed on start
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "api.serve", "--api-only"], cwd=tmp_path,
                            env=_env(tmp_path, sqlite_url, port), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.1)
        response = httpx.get(f"http://127.0.0.1:{port}/runtask/{task_id}", timeout=30)
        assert response.status_code == 200, response.text
        assert (tmp_path / "exports" / "abccorp" / "mytask.xml").read_text() == "<served/>\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    assert "status=200" in output and "stopped by SIGTERM" in output


def test_serve_fails_when_the_port_is_taken(tmp_path, sqlite_url):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "api.serve", "--api-only"], cwd=tmp_path,
                              env=_env(tmp_path, sqlite_url, port), capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "address already in use" in proc.stderr, proc.stderr
