"""The Prefect side of ``memo-taskrunner serve``: catch up a missed night, serve the deployments.

``PrefectSide(settings).start()`` (``api.serve`` runs it in a thread next to the HTTP app):

1. catch-up — if the last scheduled night was missed while the host was down
   (``memo.catchup.missed_night``) and ``MEMO_CATCH_UP=once``, that night runs
   now, in a background thread, as a ``memo-nightly`` flow run (``catch_up=True``:
   skipped if a late scheduled run does it first);
2. the deployments — unless a worker serves them (``memo-nightly`` deployed from
   ``prefect.yaml`` to a work pool), a child process ``python -m flows.service``
   serves ``memo-nightly`` (cron ``MEMO_SCHEDULE_CRON`` in ``MEMO_TIMEZONE``) and
   ``memo-task``. ``MEMO_PREFECT_SERVE=yes|no`` overrides that choice.

Without an API URL, ``start`` first starts Prefect's temporary server itself, before any
thread needs it, and the child uses that one too: one server, behind the auth string
``flows.prefect_settings`` gave this process (the child inherits it).

``stop()`` ends the child (two SIGTERMs, as Prefect's runner wants, then SIGKILL: at most
``STOP_TIMEOUT``); a catch-up night still running is ended by ``memo.stopping`` (its
scripts stopped, the night not recorded, so the next start catches it up again).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import threading

from memo import catchup
from memo.settings import Settings

log = logging.getLogger("memo.service")

NIGHTLY = "memo-nightly/memo-nightly"
STOP_TIMEOUT = 4.0
"""Seconds the served deployments' child gets to stop (``serve`` must end within 10 s of SIGTERM)."""
TEMPORARY_SERVER_STOP_WAIT = 2.0
"""Seconds Prefect's temporary server gets to stop at exit before it is killed."""


def catch_up_on_start(settings: Settings, *, background: bool = True) -> catchup.Decision | None:
    """Decide whether the last scheduled night was missed; run it (once) if so."""
    decision = catchup.missed_night(
        now=catchup.zone_now(settings.zone), cron=settings.schedule_cron,
        last_done=catchup.read_last_night(settings.work_dir), policy=settings.catch_up,
    )
    if decision is None:
        return None
    log.warning("%s", decision.reason)
    if not decision.run:
        return decision

    def run() -> None:
        from flows.nightly import run_nightly

        try:
            state = run_nightly(settings, decision.night, catch_up=True)
            log.info("catch-up of night %s ended %s: %s", decision.night, state.name, state.message)
        except Exception:  # a thread must not die silently
            log.exception("catch-up of night %s failed", decision.night)

    if background:
        threading.Thread(target=run, name="memo-catch-up", daemon=False).start()
    else:
        run()
    return decision


def _start_temporary_server():
    """Without an API URL: start Prefect's temporary server now, in this thread; the server.

    Prefect starts it on first use, but not thread-safely: the catch-up thread and the first
    HTTP request starting it at once made two servers, one of them orphaned. The served
    deployments' child is pointed at it rather than starting a second server on the same
    SQLite file. ``None`` when a real server is configured.
    """
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return None
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    atexit.register(_stop_temporary_server, server)  # after Prefect's own stop: runs before it
    return server


def _stop_temporary_server(server) -> None:
    """At exit: Prefect's own stop waits 5 s for its temporary server (more on a busy host)
    before it kills it; ``serve`` must be gone within 10 s of SIGTERM."""
    proc = server.server_process
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=TEMPORARY_SERVER_STOP_WAIT)
    except subprocess.TimeoutExpired:
        log.warning("Prefect's temporary server did not stop in %g s: killed", TEMPORARY_SERVER_STOP_WAIT)
        proc.kill()
        proc.wait()


def _workers_serve_nightly() -> bool:
    """True when ``memo-nightly`` is deployed to a work pool (prefect.yaml + workers)."""
    if not os.environ.get("PREFECT_API_URL"):
        return False
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            return bool(client.read_deployment_by_name(NIGHTLY).work_pool_name)
    except Exception:  # noqa: BLE001 - "auto" must decide: when Prefect cannot say, this host serves
        return False


class PrefectSide:
    """This host's Prefect side; ``start`` may run in a thread of its own, so that the HTTP
    port is up at once: a temporary server on a fresh PREFECT_HOME takes 15 s and more.

    ``api_ready`` is set once the in-process flows may call the Prefect API (before that,
    a call would start a second temporary server). ``stop`` may come at any point of ``start``.

    Args:
        settings: the process's settings (``MEMO_PREFECT_SERVE``, the catch-up policy, the schedule).
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.api_ready = threading.Event()
        self.process: subprocess.Popen | None = None
        self.temporary = None
        self._stopped = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start it: the temporary server if no API is named, the catch-up of a missed night,
        then the served deployments' child (``python -m flows.service``) unless workers serve
        them or ``MEMO_PREFECT_SERVE`` says no. Returns once the child is started; a ``stop``
        meanwhile ends it early."""
        from flows.prefect_settings import give_the_temporary_server_auth

        give_the_temporary_server_auth()  # before anything starts a server or calls the API
        self.temporary = _start_temporary_server()
        self.api_ready.set()
        if self._stopped:
            return
        catch_up_on_start(self.settings)
        mode = self.settings.prefect_serve
        if mode == "auto":
            mode = "no" if _workers_serve_nightly() else "yes"
            if mode == "no":
                log.info("memo-nightly is deployed to a work pool: its workers run the flows")
        if mode != "yes":
            return
        env = None
        if self.temporary is not None:
            log.warning("PREFECT_API_URL is not set: the served deployments use a temporary Prefect "
                        "server inside this host's process (no UI to speak of); run `prefect server start`")
            env = {**os.environ, "PREFECT_API_URL": self.temporary.api_url}
        with self._lock:
            if self._stopped:
                return
            self.process = subprocess.Popen([sys.executable, "-m", "flows.service"], env=env)
        log.info("serving memo-nightly and memo-task (pid %d)", self.process.pid)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """End the served deployments' child: two SIGTERMs (Prefect's runner shuts down on the
        second), then SIGKILL, all within ``timeout`` seconds.

        Args:
            timeout: seconds for the two SIGTERMs together (half each) before SIGKILL.
        """
        with self._lock:
            self._stopped = True
            proc = self.process
        if proc is None or proc.poll() is not None:
            return
        for _ in range(2):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout / 2)
                return
            except subprocess.TimeoutExpired:
                pass
        log.warning("the served deployments' child (pid %d) did not stop in %g s: killed", proc.pid, timeout)
        proc.kill()
        proc.wait()

    def abandon(self) -> None:
        """Kill the child and the temporary server at once (``serve`` is exiting without waiting)."""
        with self._lock:
            self._stopped = True
            proc = self.process
        if proc is not None and proc.poll() is None:
            proc.kill()
        server = self.temporary
        if server is not None and server.server_process is not None:
            server.server_process.kill()


def start(settings: Settings) -> PrefectSide:
    """Start the Prefect side in this thread (it returns once the child is started)."""
    side = PrefectSide(settings)
    side.start()
    return side


def serve_deployments(settings: Settings) -> None:
    """Serve ``memo-nightly`` on its schedule and ``memo-task`` from this process (blocks)."""
    from prefect import serve
    from prefect.schedules import Cron

    from flows.nightly import memo_nightly
    from flows.task import memo_task

    nightly = memo_nightly.to_deployment(
        name="memo-nightly",
        schedules=[Cron(settings.schedule_cron, timezone=settings.timezone)],
        concurrency_limit=1,
        tags=["memo"],
    )
    task = memo_task.to_deployment(name="memo-task", tags=["memo"])
    # pause_on_shutdown=False: the schedule stays, so nights missed while down show as Late
    # runs, which the catch-up rules then run once or skip.
    serve(nightly, task, pause_on_shutdown=False, limit=max(2, settings.concurrency + 1))


def main() -> int:
    from memo.errors import ConfigError
    from memo.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc.message}", file=sys.stderr)
        return 2
    serve_deployments(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
