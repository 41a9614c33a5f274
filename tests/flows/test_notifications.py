"""The Prefect automations of ``memo-taskrunner notifications`` on a real ``prefect server``:
a night with a failing task and a shrunk export, run by ``memo-taskrunner nightly``, and a
loopback webhook receiver (a Custom Webhook block) that gets the messages naming them."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.flows.conftest import prefect_env

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NIGHT = dt.date(2024, 5, 15)
NAMES = ["memo: HTTP task failed", "memo: export shrank", "memo: night failed", "memo: task failed"]
MESSAGE_WAIT = 60.0  # the server's triggers and actions services act on the events


class Receiver:
    """A webhook receiver on 127.0.0.1 (free port, own thread): the JSON bodies posted to it."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, dict]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.arrived:
                    receiver.messages.append((time.time(), body))
                    receiver.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, *words: str, timeout: float = MESSAGE_WAIT) -> tuple[float, dict]:
        """The first message whose subject and body contain every word; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for at, message in self.messages:
                    if all(w in message["subject"] + "\n" + message["body"] for w in words):
                        return at, message
                left = deadline - time.monotonic()
                assert left > 0, f"no message with {words} in {timeout:.0f} s: {self.messages}"
                self.arrived.wait(left)


@pytest.fixture
def api(prefect_server):
    """This process's Prefect client settings pointed at the session's real server.

    Prefect keeps one events worker per process, keyed by client type but not by API URL:
    one started by an earlier test (the harness's server) would carry this test's events
    to that server. It is drained before and after, so the events go where the flows run.
    """
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    EventsWorker.drain_all(timeout=10)
    with temporary_settings(updates={PREFECT_API_URL: prefect_server}):
        try:
            yield prefect_server
        finally:
            EventsWorker.drain_all(timeout=10)


@pytest.fixture
def webhook(api):
    """(receiver, block argument): a Custom Webhook block posting subject and body to the receiver."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    receiver = Receiver()
    name = f"memo-test-{uuid.uuid4().hex[:8]}"
    CustomWebhookNotificationBlock(name=name, url=receiver.url,
                                   json_data={"subject": "{{subject}}", "body": "{{body}}"}).save(name)
    try:
        yield receiver, f"custom-webhook/{name}"
    finally:
        receiver.server.shutdown()
        _delete_automations()  # the session's other tests run on this server too


def _automations() -> list:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return [a for a in client.read_automations() if a.name.startswith("memo: ")]


def _delete_automations() -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for automation in _automations():
            client.delete_automation(automation.id)


def _command(api_url: str, tmp_path: Path, *args: str, **env) -> subprocess.CompletedProcess:
    env = prefect_env(PREFECT_API_URL=api_url, PREFECT_HOME=str(tmp_path / "prefect-home"), **env)
    return subprocess.run([str(BIN / "memo-taskrunner"), *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_command_creates_the_automations_and_updates_them_when_run_again(api, webhook, tmp_path):
    _, block = webhook
    started = time.monotonic()
    first = _command(api, tmp_path, "notifications", "--block", block)
    assert first.returncode == 0, first.stdout + first.stderr
    assert [line.split()[0] for line in first.stdout.splitlines()] == ["created"] * len(NAMES), first.stdout
    ids = {a.name: a.id for a in _automations()}
    again = _command(api, tmp_path, "notifications", "--block", block.split("/")[1])  # the name alone
    assert again.returncode == 0, again.stdout + again.stderr
    assert [line.split()[0] for line in again.stdout.splitlines()] == ["updated"] * len(NAMES), again.stdout
    automations = _automations()
    assert sorted(a.name for a in automations) == NAMES  # once each, not twice
    assert {a.name: a.id for a in automations} == ids
    block_id = {a.actions[0].block_document_id for a in automations}
    assert len(block_id) == 1 and all(a.enabled for a in automations)
    print(f"\nnotifications command twice: {time.monotonic() - started:.1f} s")


def test_the_command_refuses_what_is_no_notification_block_and_needs_a_server(api, tmp_path):
    from prefect.blocks.system import Secret

    Secret(value="not a notifier").save("memo-test-secret", overwrite=True)
    missing = _command(api, tmp_path, "notifications", "--block", "custom-webhook/no-such-block")
    assert missing.returncode == 2 and "no Prefect block 'custom-webhook/no-such-block'" in missing.stderr
    secret = _command(api, tmp_path, "notifications", "--block", "secret/memo-test-secret")
    assert secret.returncode == 2 and "cannot send notifications" in secret.stderr, secret.stderr
    no_server = subprocess.run([str(BIN / "memo-taskrunner"), "notifications", "--block", "x"],
                               env=prefect_env(PREFECT_HOME=str(tmp_path / "empty-home")), cwd=tmp_path,
                               capture_output=True, text=True, timeout=60, check=False)
    assert no_server.returncode == 2 and "no Prefect server configured" in no_server.stderr, no_server.stderr
    assert _automations() == []


def _set_output(memo, username: str, file_name: str, text: str) -> None:
    name = f"{username}:{file_name.replace('.', '_', 1)}".lower()
    memo.execute("UPDATE script SET body = :b WHERE name = :n", b=f"print({text!r}, end='')\n", n=name)


def test_a_failed_task_the_failed_night_and_a_shrunk_export_reach_the_webhook(
        api, webhook, memo, database_url, tmp_path):
    from memo.runner import Runner

    receiver, block = webhook
    assert _command(api, tmp_path, "notifications", "--block", block).returncode == 0
    memo.task("abccorp", "broken.xml", "import sys\nprint('half')\n"  # its stderr: Slack markup
              "sys.stderr.write('<!channel> see <https://evil.example|the fix>\\n')\nsys.exit(3)")
    memo.task("abccorp", "fine.xml", "print('<fine/>')")
    shrinking = memo.task("defgroup", "catalog.xml", f"print({'<c>' + 'x' * 893 + '</c>'!r}, end='')")
    settings = make_settings(tmp_path, database_url)
    runner = Runner(settings)  # the export the night's run will replace: 900 bytes
    try:
        assert runner.run_task(shrinking).bytes_written == 900
    finally:
        runner.db.dispose()
    _set_output(memo, "defgroup", "catalog.xml", "<c>" + "x" * 293 + "</c>")  # 300 bytes: 33%

    night = _command(api, tmp_path, "nightly", "--date", NIGHT.isoformat(),
                     MEMO_DATABASE_URL=database_url, MEMO_SANDBOX="process", MEMO_TASK_TIMEOUT="30",
                     MEMO_EXPORTS_DIR=str(settings.exports_dir), MEMO_WORK_DIR=str(settings.work_dir),
                     MEMO_TIMEZONE=settings.timezone)
    ended = time.time()
    assert night.returncode == 1, night.stdout[-3000:] + night.stderr[-3000:]

    task_at, task = receiver.wait_for("abccorp/broken.xml", "Failed", "exited with code 3")
    assert task["subject"] == "MEMO: task abccorp/broken.xml Failed", task
    assert f"(flow run night-{NIGHT})" in task["body"], task
    assert "‹!channel› see ‹https://evil.example|the fix›" in task["body"], task  # shown, not acted on
    assert "<" not in task["body"] + task["subject"], task
    night_at, night_failed = receiver.wait_for(f"night night-{NIGHT}", "2 of 3 task(s) succeeded")
    assert night_failed["subject"] == f"MEMO: night night-{NIGHT} Failed"
    assert "abccorp/broken.xml" in night_failed["body"]
    shrank_at, shrank = receiver.wait_for("defgroup/catalog.xml", "shrank")
    assert shrank["subject"] == "MEMO: export defgroup/catalog.xml shrank"
    assert "export shrank to 300 bytes from 900" in shrank["body"], shrank
    time.sleep(2)  # nothing else is coming: one message each
    subjects = sorted(m["subject"] for _, m in receiver.messages)
    assert subjects == sorted([task["subject"], night_failed["subject"], shrank["subject"]]), subjects
    delays = {kind: at - _occurred(message) for kind, (at, message) in
              {"task": (task_at, task), "night": (night_at, night_failed), "shrink": (shrank_at, shrank)}.items()}
    assert all(0 <= d < MESSAGE_WAIT for d in delays.values()), delays
    print("\n" + "\n".join(m["body"] for _, m in receiver.messages))
    print("from event to message: " + ", ".join(f"{k} {d:.1f} s" for k, d in delays.items())
          + f"; the last message {max(task_at, night_at, shrank_at) - ended:+.1f} s after the command ended")


def _occurred(message: dict) -> float:
    """When the event happened: the body's "at <event.occurred>"."""
    stamp = message["body"].split(" at ", 1)[1].split(" (")[0].split(":\n")[0]
    return dt.datetime.fromisoformat(stamp).timestamp()


def test_a_failed_ad_hoc_memo_task_run_reaches_the_webhook(api, webhook, memo, database_url, tmp_path):
    """As the HTTP app runs a task: a ``memo-task`` flow run in this process."""
    from flows.task import run_memo_task

    receiver, block = webhook
    assert _command(api, tmp_path, "notifications", "--block", block).returncode == 0
    task_id = memo.task("zeta", "refused.json", "import os\nprint(os.getcwd())")  # the guard refuses it
    outcome = run_memo_task(make_settings(tmp_path, database_url), task_id)
    assert not outcome.success and outcome.kind == "guard"
    at, message = receiver.wait_for("zeta/refused.json")
    assert message["subject"] == "MEMO: task zeta/refused.json Failed", message
    assert "(flow run zeta/refused.json)" in message["body"] and "[guard]" in message["body"], message
    print(f"\nad-hoc memo-task failure: message {at - _occurred(message):.1f} s after the event")


def test_a_failed_run_asked_for_over_http_reaches_the_webhook(api, webhook, memo, database_url, tmp_path):
    """As the HTTP app runs a task: on the Runner, recorded as a ``memo-task`` flow run."""
    from flows.recorded import FlowRunRecorder
    from memo.runner import Runner

    receiver, block = webhook
    assert _command(api, tmp_path, "notifications", "--block", block).returncode == 0
    task_id = memo.task("zeta", "http_refused.json", "import os\nprint(os.getcwd())")  # the guard refuses it
    recorder = FlowRunRecorder()
    try:
        outcome = recorder.record(Runner(make_settings(tmp_path, database_url)), task_id, dry_run=False, lock_wait=0)
    finally:
        recorder.close()
    assert not outcome.success and outcome.kind == "guard"
    at, message = receiver.wait_for("zeta/http_refused.json")
    assert message["subject"] == "MEMO: task zeta/http_refused.json Failed", message
    assert "(asked for over HTTP)" in message["body"] and "import os at 1:0" in message["body"], message
    time.sleep(2)
    assert [m["subject"] for _, m in receiver.messages].count(message["subject"]) == 1  # heard once
    print(f"\nHTTP run failure: message {at - _occurred(message):.1f} s after the event")
