"""The Prefect side of ``memo-taskrunner serve``: catch up a missed night, serve the deployments.

``start(settings)`` (called by ``api.serve`` next to the HTTP app) returns at once:

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

``stop()`` ends the child (two SIGTERMs, as Prefect's runner wants) and lets a
catch-up still running finish its night.
"""

from __future__ import annotations

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


def _temporary_server_url() -> str | None:
    """Without an API URL: start Prefect's temporary server now, in this thread; its URL.

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
    return server.api_url


def _workers_serve_nightly() -> bool:
    """True when ``memo-nightly`` is deployed to a work pool (prefect.yaml + workers)."""
    if not os.environ.get("PREFECT_API_URL"):
        return False
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            return bool(client.read_deployment_by_name(NIGHTLY).work_pool_name)
    except Exception:
        return False


class PrefectSide:
    def __init__(self, process: subprocess.Popen | None):
        self.process = process

    def stop(self, timeout: float = 20) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        for _ in range(2):  # Prefect's runner shuts down on the second SIGTERM
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout / 2)
                return
            except subprocess.TimeoutExpired:
                pass
        proc.kill()
        proc.wait()


def start(settings: Settings) -> PrefectSide:
    temporary = _temporary_server_url()
    catch_up_on_start(settings)
    mode = settings.prefect_serve
    if mode == "auto":
        mode = "no" if _workers_serve_nightly() else "yes"
        if mode == "no":
            log.info("memo-nightly is deployed to a work pool: its workers run the flows")
    if mode != "yes":
        return PrefectSide(None)
    env = None
    if temporary:
        log.warning("PREFECT_API_URL is not set: the served deployments use a temporary Prefect "
                    "server inside this host's process (no UI to speak of); run `prefect server start`")
        env = {**os.environ, "PREFECT_API_URL": temporary}
    process = subprocess.Popen([sys.executable, "-m", "flows.service"], env=env, start_new_session=False)
    log.info("serving memo-nightly and memo-task (pid %d)", process.pid)
    return PrefectSide(process)


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
