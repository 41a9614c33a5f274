"""The run-time guard in the real container, through the runner: MEMO's message, nothing kept.

The static guard is switched off here (``unguarded_policy``) and the launcher gets the default
policy's run-time part, so each script reaches the container and only the run-time layer
stands between it and what it tries (the layers are tested on their own). The image's own
python3 runs the launcher, bind-mounted read-only; the network is ``none`` with the default
allow-list, as in production.
"""

from __future__ import annotations

import pytest

from guard import default_policy
from guard.runtime import runtime_policy
from memo.runner import Runner
from tests.conftest import Memo, unguarded_policy
from tests.docker.conftest import docker_settings
from tests.faults.conftest import containers_of

pytestmark = [pytest.mark.docker]

PREVIOUS = b"<export version='yesterday'/>\n"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """``guarded(body) -> (outcome, runlog rows, the export's bytes)`` for abccorp/evil.xml."""
    from memo import schema
    import sqlalchemy as sa

    tmp = tmp_path_factory.mktemp("launcher")
    url = f"sqlite:///{tmp / 'memo.sqlite'}"
    engine = sa.create_engine(url)
    schema.create_schema(engine)
    engine.dispose()
    memo = Memo(url)
    settings = docker_settings(tmp, database_url=url, network="none", allow="127.0.0.1:3306")
    runner = Runner(settings, policy=unguarded_policy(), runtime_policy=runtime_policy(default_policy()))
    count = [0]

    def run(body: str):
        count[0] += 1
        name = f"evil{count[0]}.xml"
        task_id = memo.task("abccorp", name, body, sql=None)
        client = settings.exports_dir / "abccorp"
        client.mkdir(parents=True, exist_ok=True)
        (client / name).write_bytes(PREVIOUS)
        outcome = runner.run_task(task_id)
        assert containers_of(task_id) == [], "the container was left behind"
        return outcome, memo.runlog(task_id), (client / name).read_bytes(), f"abccorp:evil{count[0]}_xml"

    yield run
    runner.db.dispose()
    memo.engine.dispose()


CASES = {
    "open_for_writing": ("open('/tmp/x', 'w')", "open() for writing '/tmp/x'"),
    "open_outside_the_tree": ("open('/etc/passwd').read()",
                              "open() for reading '/etc/passwd' outside the script's tree"),
    "eval": ("eval('6 * 7')", "exec()/eval()/compile() of a string"),
    "os_system": ("import os\nos.system('id')", "os.system()"),
    "ctypes": ("import ctypes", "import ctypes"),
    "import_outside_policy": ("import ftplib", "import ftplib"),
    "create_builtin_fork_exec": (
        "import sys\nm = sys.modules['_imp'].create_builtin(sys.modules['_posixsubprocess'].__spec__)\n"
        "import os\nos.fork()", "os.fork()"),
    "marshal": ("import marshal\nmarshal.loads(b'\\xe3' + bytes(40))",
                "marshal.loads() of bytes that are no bytecode cache"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_forbidden_instruction_is_refused_at_run_time_with_memos_message(guarded, name):
    body, what = CASES[name]
    script = "import sys\nprint('partial output')\n" + body + "\nprint('after')\n"
    outcome, rows, export, script_name = guarded(script)
    line = 3 + body.count("\n")
    assert not outcome.success and outcome.kind == "guard", outcome
    expected = f"Illegal instructions found at run time: {{{script_name}=[{what}"
    assert outcome.message.startswith(expected), outcome.message
    assert outcome.message.endswith(f" at {line}]}}"), outcome.message
    assert export == PREVIOUS  # the export of yesterday is untouched
    assert [(bool(r.is_success), r.message) for r in rows] == [(False, outcome.message)]


def test_a_program_cannot_be_started_even_past_the_hook(guarded):
    """``_imp.create_builtin`` hands out a fresh ``_posixsubprocess`` whose ``fork_exec`` raises no
    audit event (red team, round 1): the kernel filter refuses the exec itself, and the child
    reports it through fork_exec's error pipe as subprocess does ("OSError:<errno>:...")."""
    outcome, rows, export, _ = guarded(
        "import sys, os\nm = sys.modules['_imp'].create_builtin(sys.modules['_posixsubprocess'].__spec__)\n"
        "r, w = os.pipe()\ner, ew = os.pipe()\n"
        "pid = m.fork_exec([b'/bin/echo', b'RAN'], [b'/bin/echo'], True, (w, ew), None, None, -1, -1, -1, w,"
        " -1, -1, er, ew, True, False, -1, None, None, None, -1, None, False)\n"
        "os.close(w)\nos.close(ew)\nprint(os.read(r, 100), os.read(er, 200))\n")
    assert outcome.success, outcome.message
    assert b"RAN" not in export and b"OSError:1:" in export, export  # errno 1: EPERM


def test_a_library_refusal_the_script_dies_of_is_reported_as_one(guarded):
    outcome, rows, export, script_name = guarded("import subprocess\nsubprocess.run(['id'])\n")
    assert outcome.kind == "guard"
    assert outcome.message.startswith(f"Illegal instructions found at run time: {{{script_name}=[subprocess.Popen()")
    assert outcome.message.endswith(" at 2]}"), outcome.message
    assert export == PREVIOUS


def test_a_report_script_exports_under_the_launcher_as_it_would_bare(guarded):
    body = (
        "import csv, json, sys, datetime, decimal\nfrom zoneinfo import ZoneInfo\nimport mysql.connector\n"
        "import xml.etree.ElementTree as ET\n"
        "w = csv.writer(sys.stdout, lineterminator='\\n')\n"
        "for i in range(3):\n"
        "    t = datetime.datetime(2024, 3, 31, i, tzinfo=datetime.timezone.utc)\n"
        "    t = t.astimezone(ZoneInfo('Europe/Amsterdam'))\n"
        "    w.writerow([i, t.isoformat(), decimal.Decimal(i) / 4])\n"
        "print(ET.tostring(ET.Element('n', a='1')).decode(), json.dumps({'ok': True}))\n"
    )
    outcome, rows, export, _ = guarded(body)
    assert outcome.success, outcome.message
    assert export == (b"0,2024-03-31T01:00:00+01:00,0\n1,2024-03-31T03:00:00+02:00,0.25\n"
                      b"2,2024-03-31T04:00:00+02:00,0.5\n<n a=\"1\" /> {\"ok\": true}\n")
