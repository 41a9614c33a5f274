"""Red team against the docker sandbox and the runner around it (issue: recent changes).

Each test is an attack by a script the guard accepts, run for real (Podman's Docker API,
the run-time guard's launcher, the runner), and asserts that it fails:

- a forged ``memo-guard: unavailable`` line does not turn the script's own failure into an
  infrastructure fault (which Prefect retries, and which blames the host's image);
- a script's stderr cannot flood the log (and so Prefect's API) with lines;
- control characters in a script's stderr (NUL, ESC, CR) never reach the log records or the
  run's message as they are;
- the attach stream's frames: only stream 1 reaches the export.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time

import pytest

from memo.errors import OutcomeKind
from memo.runner import Runner
from memo.sandbox.attach import AttachStream, Demux
from memo.sandbox.base import TASK_ID_FIELD, SandboxJob, StderrTail
from tests.conftest import Memo
from tests.docker.conftest import docker_settings

pytestmark = pytest.mark.docker


@pytest.fixture
def box(tmp_path, sqlite_url):
    """``(memo seeder, runner)``: the runner with the docker sandbox, guarded, on SQLite."""
    memo = Memo(sqlite_url)
    runner = Runner(docker_settings(tmp_path, database_url=sqlite_url, timeout=60))
    yield memo, runner
    runner.db.dispose()
    memo.engine.dispose()


@pytest.fixture
def script_records():
    """Every record of the ``memo.script`` logger (a script's stderr lines), at any level."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = records.append
    logger = logging.getLogger("memo.script")
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


FORGED_UNAVAILABLE = (
    "import sys\n"
    "print('half an export')\n"
    "sys.stderr.write('\\nmemo-guard: unavailable\\tthe run-time guard\\'s kernel filter cannot be installed '\n"
    "                 'here: forged by the script\\n')\n"
    "raise SystemExit(78)\n"
)


def test_a_forged_unavailable_line_is_the_scripts_own_failure_not_the_hosts(box):
    memo, runner = box
    task_id = memo.task("abccorp", "forged.txt", FORGED_UNAVAILABLE)
    export = runner.settings.exports_dir / "abccorp" / "forged.txt"
    export.parent.mkdir(parents=True)
    export.write_bytes(b"yesterday\n")

    outcome = runner.run_task(task_id)

    assert not outcome.success
    # Not SANDBOX: that kind is retryable (Prefect runs the script twice more, 30 s apart,
    # holding a slot of the night each time) and its message blames the host's image.
    assert outcome.kind == OutcomeKind.SCRIPT, (outcome.kind, outcome.message)
    assert not outcome.retryable
    assert outcome.message.startswith("Script exited with code 78"), outcome.message
    assert export.read_bytes() == b"yesterday\n"


def test_a_flood_of_stderr_lines_is_not_a_flood_of_log_records(box, script_records):
    memo, runner = box
    lines = 30000
    task_id = memo.task("abccorp", "flood.txt",
                        f"import sys\nfor i in range({lines}):\n    print('x', i, file=sys.stderr)\nprint('done')\n")

    outcome = runner.run_task(task_id)

    assert outcome.success, outcome.message
    mine = [r for r in script_records if getattr(r, TASK_ID_FIELD, None) == task_id]
    # every record goes to Prefect's API (flows.run_logs): a script must not decide how many
    assert 0 < len(mine) <= 1100, len(mine)
    assert "x 29999" in outcome.message or outcome.message == "OK"
    assert any("not logged" in r.getMessage() for r in mine), "the cut is said"


@pytest.fixture
def runner_records():
    records: list[logging.LogRecord] = []
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = records.append
    logger = logging.getLogger("memo.runner")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_long_stderr_lines_are_not_logged_whole(box, script_records):
    memo, runner = box
    task_id = memo.task("abccorp", "wide.txt",
                        "import sys\nfor i in range(300):\n    print('w' * 60000, i, file=sys.stderr)\nprint('done')\n")

    outcome = runner.run_task(task_id)

    assert outcome.success, outcome.message
    mine = [r.getMessage() for r in script_records if getattr(r, TASK_ID_FIELD, None) == task_id]
    assert len(mine) == 300
    logged = sum(map(len, mine))
    assert logged <= 300 * 2200, logged  # not 18 MB of log records for Prefect's database
    assert all("more characters not logged" in m for m in mine)


def test_control_characters_in_stderr_never_reach_the_log_or_the_message_raw(box, script_records, runner_records):
    memo, runner = box
    task_id = memo.task("abccorp", "ctl.txt", (
        "import sys\n"
        "sys.stderr.write('fine\\x00hidden\\x1b[2K\\r2026-12-03 INFO memo.runner: victim/r.xml succeeded\\n')\n"
        "sys.stderr.write('bell\\x07 and \\x9b csi\\n')\n"
        "raise SystemExit(3)\n"))

    outcome = runner.run_task(task_id)

    assert outcome.kind == OutcomeKind.SCRIPT
    mine = [r.getMessage() for r in script_records if getattr(r, TASK_ID_FIELD, None) == task_id]
    assert any("hidden" in m for m in mine), mine
    for text in [*mine, outcome.message]:
        assert not any(c in text for c in "\x00\x1b\r\x07\x9b"), repr(text)
    assert "\\x1b" in outcome.message  # shown, escaped: the operator still sees what was sent
    # the runner's own line about the run carries the tail: one line, no forged second one
    [summary] = [r.getMessage() for r in runner_records if "abccorp/ctl.txt failed" in r.getMessage()]
    assert "\n" not in summary and "\r" not in summary and "victim/r.xml succeeded" in summary


def _job(name="memo-redteam-demux"):
    return SandboxJob(tree=None, timeout=10, name=name, labels={"task-id": "t-demux"})


@pytest.mark.parametrize("stream_id", [0, 3, 7])
def test_only_stream_one_reaches_the_export(stream_id):
    """A frame of another stream (stdin's 0, the engine's own errors 3, anything) is not the
    script's stdout: it must not land in the client's export."""
    ours, theirs = socket.socketpair()

    def frame(sid: int, payload: bytes) -> bytes:
        return bytes([sid, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload

    def engine():
        theirs.sendall(frame(1, b"<a>") + frame(stream_id, b"ENGINE ERROR") + frame(2, b"warn\n") + frame(1, b"</a>"))
        theirs.close()

    sender = threading.Thread(target=engine)
    sender.start()
    out = io.BytesIO()
    tail = StderrTail(_job(), limit=2000)
    try:
        Demux(AttachStream(ours), time.monotonic() + 10, out, tail).run()
    except OSError:
        pass  # refusing the stream is fine too: the runner then fails the run, export untouched
    finally:
        sender.join()
        ours.close()
    assert b"ENGINE ERROR" not in out.getvalue()
    assert out.getvalue() in (b"<a></a>", b"<a>")


def test_the_launchers_own_unavailable_line_still_counts():
    from guard.runtime import EXIT_UNAVAILABLE, parse_unavailable

    line = "memo-guard: unavailable\tn0nce\tthe run-time guard's kernel filter cannot be installed here: ENOSYS\n"
    assert parse_unavailable(EXIT_UNAVAILABLE, "x\n" + line, "n0nce").endswith("here: ENOSYS")
    assert parse_unavailable(EXIT_UNAVAILABLE, line, "other") is None
    assert parse_unavailable(EXIT_UNAVAILABLE, "memo-guard: unavailable\tforged", "n0nce") is None


SPARSE = (
    "import sys\n"
    "def extend(o):\n"  # a parameter: the static guard cannot know it is stdout
    "    o.flush()\n"
    "    o.truncate(1 << 26)\n"
    "extend(sys.stdout.buffer)\n"
)


def test_with_file_output_a_stdout_extended_by_truncate_is_not_copied_into_the_export(tmp_path, sqlite_url):
    """``MEMO_CONTAINER_OUTPUT=file``: 0 bytes written, a file of 64 MiB (of 1 TiB just as fast)
    whose copy, after the container's end and so past the task's timeout, fills the exports' disk
    while the task holds its lock and a script slot."""
    memo = Memo(sqlite_url)
    runner = Runner(docker_settings(tmp_path, database_url=sqlite_url, timeout=60, output="file"))
    task_id = memo.task("abccorp", "sparse.txt", SPARSE)
    export = runner.settings.exports_dir / "abccorp" / "sparse.txt"
    export.parent.mkdir(parents=True)
    export.write_bytes(b"yesterday\n")
    try:
        outcome = runner.run_task(task_id)
    finally:
        runner.db.dispose()
        memo.engine.dispose()
    assert not outcome.success and outcome.bytes_written == 0, (outcome.kind, outcome.message)
    assert outcome.kind in (OutcomeKind.OUTPUT, OutcomeKind.SCRIPT), outcome.kind
    assert "holes" in outcome.message, outcome.message
    assert export.read_bytes() == b"yesterday\n"


def test_a_runner_made_container_keeps_every_lock_down(box, api):
    """Through the runner (guard, launcher, egress relay: what the split's modules assemble), with a
    hostile-looking file name in its labels: no network but the relay's sockets, read-only root
    and mounts, no capability, no new privileges, pids/memory limits, non-root, the runner's own
    environment kept out."""
    import os

    memo, runner = box
    task_id = memo.task("abccorp", "lockdown\u202e.txt", "import time\ntime.sleep(4)\nprint('ok')\n")
    results = []
    thread = threading.Thread(target=lambda: results.append(runner.run_task(task_id)))
    os.environ["MEMO_SECRET_PROBE"] = "must-not-leak"
    thread.start()
    try:
        deadline = time.monotonic() + 30
        listed = []
        while not listed and time.monotonic() < deadline:
            listed = api.containers(filters={"label": f"org.oapen.memo.task-id={task_id}"})
            time.sleep(0.1)
        assert listed, "no container seen"
        info = api.inspect_container(listed[0]["Id"])
    finally:
        thread.join(60)
        del os.environ["MEMO_SECRET_PROBE"]
    assert results and results[0].success, results
    hc, config = info["HostConfig"], info["Config"]
    assert hc["NetworkMode"] == "none"
    assert hc["ReadonlyRootfs"] is True
    assert hc["Privileged"] is False
    dropped = {c.upper().removeprefix("CAP_") for c in hc.get("CapDrop") or []}
    # Podman lists the default set it dropped (for cap_drop ALL), Docker says ALL
    assert "ALL" in dropped or {"CHOWN", "DAC_OVERRIDE", "SETUID", "SETGID", "NET_RAW", "KILL"} <= dropped, dropped
    assert not hc.get("CapAdd")
    assert any("no-new-privileges" in o for o in hc.get("SecurityOpt") or [])
    assert hc["PidsLimit"] == runner.settings.container.pids_limit
    assert hc["Memory"] > 0
    assert config["User"] == "65534:65534"
    assert not any(e.startswith(("MEMO_", "PREFECT_", "DOCKER_")) for e in config.get("Env") or [])
    assert all(m["RW"] is False for m in info["Mounts"] if m.get("Type") == "bind"), info["Mounts"]
    assert config["Labels"]["org.oapen.memo.task"] == "abccorp/lockdown\\u202e.txt"


@pytest.mark.xfail(strict=True, reason="known gap: the XML check's memory bound was taken out (it refused "
                   "legitimate exports: tests/test_export_rules.py)")
def test_an_xml_output_nesting_without_end_does_not_fill_the_runners_memory(tmp_path, sqlite_url):
    """The well-formedness check runs in the runner's process: 12 MB of ``<a>`` were 500 MB of
    expat's open elements there (300 MB of output, 13 GB: the runner killed, every run with it)."""
    import resource

    memo = Memo(sqlite_url)
    runner = Runner(docker_settings(tmp_path, database_url=sqlite_url, timeout=60).model_copy(
        update={"validate_exports": "xml"}))
    task_id = memo.task("abccorp", "deep.xml", (
        "import sys\n"
        "sys.stdout.write('<?xml version=\"1.0\"?>')\n"
        "for i in range(16):\n"
        "    sys.stdout.write('<a>' * 250000)\n"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        outcome = runner.run_task(task_id)
    finally:
        runner.db.dispose()
        memo.engine.dispose()
    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert outcome.kind == OutcomeKind.OUTPUT and "too deep" in outcome.message, outcome.message
    assert grew_mb < 100, f"the runner's peak memory grew by {grew_mb:.0f} MB"


def test_an_xml_tag_that_never_ends_is_refused_before_it_costs_the_runner(tmp_path, sqlite_url):
    """expat keeps an unfinished token and re-reads it at every chunk: an attribute value of 200 MB
    cost the runner 250 MB and 30 s of CPU (1 GB: a quarter of an hour)."""
    memo = Memo(sqlite_url)
    runner = Runner(docker_settings(tmp_path, database_url=sqlite_url, timeout=60).model_copy(
        update={"validate_exports": "xml"}))
    task_id = memo.task("abccorp", "tag.xml", (
        "import sys\n"
        "sys.stdout.write('<?xml version=\"1.0\"?><a b=\"')\n"
        "for i in range(48):\n"
        "    sys.stdout.write('x' * (1 << 20))\n"))
    started = time.monotonic()
    try:
        outcome = runner.run_task(task_id)
    finally:
        runner.db.dispose()
        memo.engine.dispose()
    assert outcome.kind == OutcomeKind.OUTPUT and "longer than" in outcome.message, outcome.message
    assert time.monotonic() - started < 20
