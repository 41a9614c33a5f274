"""deploy/memo-taskrunner.env.example reads the same through systemd's EnvironmentFile= rules and a
shell's `set -a; . file; set +a` (issue 15: an unquoted cron made the shell run "0" and the cron
fell back to the default), and the runner accepts every value in it."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from memo.secrets_file import read_env_file as systemd_environment_file  # EnvironmentFile='s rules
from memo.settings import load_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "memo-taskrunner.env.example"


def shell_sourced(path: Path) -> dict[str, str]:
    script = f"set -a; . {shlex.quote(str(path))}; set +a; env -0"
    done = subprocess.run(["sh", "-c", script], capture_output=True, env={"PATH": "/usr/bin:/bin"}, check=True)
    assert done.stderr == b"", done.stderr.decode()  # "0: command not found" would land here
    pairs = (item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("MEMO_")}


def test_systemd_and_the_shell_read_the_same_values():
    by_systemd = systemd_environment_file(EXAMPLE)
    assert by_systemd == shell_sourced(EXAMPLE)
    assert by_systemd["MEMO_SCHEDULE_CRON"] == "0 0 2 * * *"


def test_the_runner_accepts_every_value(monkeypatch):
    for key, value in systemd_environment_file(EXAMPLE).items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.schedule_cron == "0 2 * * *"  # the Spring 6-field cron, converted
    assert settings.container.network == "none" and settings.container.allow == "127.0.0.1:3306"
