"""``memo-taskrunner setup-secrets``: the Prefect auth string and the HTTP token, once, root-only.

The real command in a child process, as an operator runs it; the units that load its file.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from memo.secrets_file import CLIENT_AUTH, DEFAULT_DIR, FILE_NAME, HTTP_TOKEN, NAMES, SERVER_AUTH, read_env_file

ROOT = Path(__file__).resolve().parents[1]
SAFE_VALUE = re.compile(r"[A-Za-z0-9_:-]+")  # nothing systemd's EnvironmentFile= or a shell would reinterpret


def setup_secrets(folder: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "PREFECT_"))}
    return subprocess.run([sys.executable, "-m", "cli.main", "setup-secrets", "--dir", str(folder)],
                          capture_output=True, text=True, env=env, timeout=60)


def assert_nothing_secret_printed(done: subprocess.CompletedProcess, values: dict[str, str]) -> None:
    for value in values.values():
        password = value.split(":", 1)[-1]
        assert password not in done.stdout and password not in done.stderr


def test_creates_a_root_only_file_with_random_values(tmp_path):
    folder = tmp_path / "etc" / "memo-taskrunner"
    done = setup_secrets(folder)
    assert done.returncode == 0, done.stderr
    path = folder / FILE_NAME
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (0, 0)
    values = read_env_file(path)
    assert set(values) == set(NAMES)
    assert values[SERVER_AUTH] == values[CLIENT_AUTH]  # the server and its clients: one string
    user, password = values[SERVER_AUTH].split(":", 1)
    assert user and len(password) >= 40 and ":" not in password
    assert len(values[HTTP_TOKEN]) >= 40 and values[HTTP_TOKEN] != password
    assert all(SAFE_VALUE.fullmatch(v) for v in values.values())
    assert str(path) in done.stdout and all(name in done.stdout for name in NAMES)
    assert_nothing_secret_printed(done, values)
    assert not [p.name for p in folder.iterdir() if p.name != FILE_NAME]  # no temporary file left


def test_values_differ_from_one_run_to_the_next(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert setup_secrets(first).returncode == 0 and setup_secrets(second).returncode == 0
    a, b = read_env_file(first / FILE_NAME), read_env_file(second / FILE_NAME)
    assert all(a[name] != b[name] for name in NAMES)


def test_an_existing_file_is_kept(tmp_path):
    assert setup_secrets(tmp_path).returncode == 0
    path = tmp_path / FILE_NAME
    before = path.read_bytes()
    done = setup_secrets(tmp_path)
    assert done.returncode == 0, done.stderr
    assert path.read_bytes() == before
    assert "kept:" in done.stdout and "nothing missing" in done.stdout
    assert_nothing_secret_printed(done, read_env_file(path))


def test_only_missing_values_are_added_and_a_loose_mode_is_tightened(tmp_path):
    path = tmp_path / FILE_NAME
    path.write_text("# the operator's\nMEMO_HTTP_TOKEN=chosen-by-ops\nPREFECT_SERVER_API_AUTH_STRING=ops:pw\n")
    path.chmod(0o644)
    done = setup_secrets(tmp_path)
    assert done.returncode == 0, done.stderr
    assert path.read_text().startswith("# the operator's\nMEMO_HTTP_TOKEN=chosen-by-ops\n")
    assert read_env_file(path) == {HTTP_TOKEN: "chosen-by-ops", SERVER_AUTH: "ops:pw", CLIENT_AUTH: "ops:pw"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "written: PREFECT_API_AUTH_STRING" in done.stdout
    assert "ops:pw" not in done.stdout and "chosen-by-ops" not in done.stdout
    # complete, but readable by others: the values stay, the mode does not
    path.chmod(0o644)
    before = read_env_file(path)
    done = setup_secrets(tmp_path)
    assert read_env_file(path) == before and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "now 0600" in done.stdout


def test_an_unwritable_folder_is_one_clear_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = setup_secrets(blocker / "etc")
    assert done.returncode == 1 and "cannot write" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("unit", ["prefect-server.service", "memo-http.service", "memo-worker.service"])
def test_every_unit_requires_the_file_the_command_writes(unit):
    """Without the file a unit does not start (no `-`), rather than run with an open API or none."""
    text = (ROOT / "deploy" / unit).read_text()
    assert f"EnvironmentFile={DEFAULT_DIR / FILE_NAME}" in text.splitlines()
    files = [line for line in text.splitlines() if line.startswith("EnvironmentFile=")]
    assert files[-1] == f"EnvironmentFile={DEFAULT_DIR / FILE_NAME}"  # loaded last: the one place for them
