"""``python -m guard.cli PATH...``: exit 0 clean, 1 illegal, 2 unreadable / not Python."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from guard.cli import main
from tests.guard.conftest import ACCEPTED, CORPUS

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "MEMO_GUARD_POLICY"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "guard.cli", *args],
        capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=60,
    )


@pytest.fixture
def files(tmp_path):
    (tmp_path / "clean.py").write_text("import sys\nsys.stdout.write('Open Access')\n")
    (tmp_path / "evil.py").write_text("x = 1\nimport os\nopen('/etc/passwd')\n")
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    (tmp_path / "latin1.py").write_bytes("t = 'caf\xe9'\n".encode("latin-1"))
    return tmp_path


def test_clean_files_exit_0(files):
    r = run(str(files / "clean.py"), *map(str, ACCEPTED[:3]))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""


def test_illegal_instructions_exit_1_with_the_summary(files):
    r = run(str(files / "clean.py"), str(files / "evil.py"))
    assert r.returncode == 1
    first = r.stdout.splitlines()[0]
    assert first == f"Illegal instructions found: {{{files / 'evil.py'}=[import os at 2:0, open() at 3:0]}}"
    assert "[import]" in r.stdout and "[builtin]" in r.stdout


@pytest.mark.parametrize("name, needle", [
    ("broken.py", "Syntax error in"), ("latin1.py", "not UTF-8"), ("missing.py", "cannot read"),
])
def test_unreadable_or_not_python_exit_2(files, name, needle, capsys):
    assert main([str(files / "evil.py"), str(files / name)]) == 2
    out = capsys.readouterr()
    assert needle in out.out + out.err


def test_syntax_error_reports_its_position(files, capsys):
    assert main([str(files / "broken.py")]) == 2
    assert f"Syntax error in {files / 'broken.py'} at 1:6: " in capsys.readouterr().out


def test_json_output(files):
    r = run("--json", *(str(files / name) for name in ("clean.py", "evil.py", "broken.py", "latin1.py")))
    assert r.returncode == 2
    data = json.loads(r.stdout)
    assert [Path(d["path"]).name for d in data] == ["clean.py", "evil.py", "broken.py", "latin1.py"]
    clean, evil, broken, latin1 = data
    assert clean["ok"] is True and clean["findings"] == [] and clean["syntax_error"] is None
    assert evil["ok"] is False
    assert evil["findings"][0] == {
        "rule": "import", "line": 2, "column": 0, "code": "import os", "label": "import os",
        "reason": evil["findings"][0]["reason"],
    }
    assert set(evil["findings"][1]) == {"rule", "line", "column", "code", "label", "reason"}
    assert broken["syntax_error"].startswith("1:6: ")
    assert latin1["error"].startswith("not UTF-8")


def test_json_exit_1_when_only_illegal(files, capsys):
    assert main(["--json", str(files / "evil.py")]) == 1
    assert json.loads(capsys.readouterr().out)[0]["findings"]


def test_policy_option_and_the_setting(files, tmp_path, monkeypatch, capsys):
    """A policy file extends the allow-list: a module the image gained. ``memo-taskrunner guard``
    takes the ``guard_policy`` setting (MEMO_GUARD_POLICY, read by memo.settings alone);
    guard/ itself reads no setting."""
    from cli.main import main as memo_main

    monkeypatch.delenv("MEMO_GUARD_POLICY", raising=False)
    script = tmp_path / "gained.py"
    script.write_text("import requests\nrequests.get('https://example.org')\n")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"modules": {"requests": {"reason": "in the image", "members": ["get"]}}}))
    assert main([str(script)]) == 1
    assert main(["--policy", str(policy), str(script)]) == 0
    monkeypatch.setenv("MEMO_GUARD_POLICY", str(policy))
    assert main([str(script)]) == 1  # guard/ alone: the default policy
    assert memo_main(["guard", str(script)]) == 0
    monkeypatch.setenv("MEMO_GUARD_POLICY", str(tmp_path / "missing.json"))
    assert memo_main(["guard", "--policy", str(policy), str(script)]) == 0  # the option beats the setting
    assert memo_main(["guard", f"--policy={policy}", str(script)]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"unknown": 1}')
    capsys.readouterr()
    assert main(["--policy", str(bad), str(script)]) == 2
    assert "unknown key" in capsys.readouterr().err
    never = tmp_path / "never.json"
    never.write_text('{"builtins": ["eval"]}')
    assert main(["--policy", str(never), str(script)]) == 2
    assert "can never be allowed" in capsys.readouterr().err


def test_folders_are_searched_for_python_files(capsys):
    assert main(["--json", str(CORPUS / "accepted")]) == 0
    assert len(json.loads(capsys.readouterr().out)) == len(ACCEPTED)


def test_main_in_process(files, capsys):
    assert main([str(files / "clean.py")]) == 0
    assert main([str(files / "evil.py")]) == 1
    assert "Illegal instructions found" in capsys.readouterr().out
