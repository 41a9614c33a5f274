"""``memo-taskrunner serve``: the HTTP API on MEMO_HTTP_HOST:MEMO_HTTP_PORT (+ the Prefect side).

Clean-up first (script trees, partial exports and containers crashed runs left), then
uvicorn in the foreground until SIGINT/SIGTERM; the Prefect side starts in a thread
meanwhile (a temporary server on a fresh PREFECT_HOME takes 15 s and more; runs asked for
before it is up go without Prefect). On SIGTERM ``serve`` ends within 10 s whatever state
Prefect is in (``_Stopping``): uvicorn stops accepting; runs in flight get ``STOP_GRACE``
to end, then their scripts are stopped (export untouched, runlog row "Stopped ...");
at ``STOP_DEADLINE`` the process exits, abandoning what Prefect still does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time

from memo.settings import Settings
from memo.stopping import STOP

log = logging.getLogger("memo.api")

PORT_FIRST_WAIT = 30.0
"""Seconds the Prefect side waits for the HTTP port to be up before it starts anyway."""
STOP_GRACE = 2.0
"""Seconds a run in flight at SIGTERM has to end by itself before its script is stopped."""
STOP_DEADLINE = 8.0
"""Seconds after SIGTERM by which ``serve`` exits whatever is left: a Prefect call to a server
that has gone can retry for minutes, and systemd SIGKILLs at its stop timeout."""


def build_server(settings: Settings, *, via: str | None = None, lock_wait: float = 0.0,
                 api_ready: threading.Event | None = None, on_exit_signal=None):
    """A configured ``uvicorn.Server`` for these settings (not started); ``on_exit_signal(sig)``
    is called (in the signal handler) when it is told to stop."""
    import uvicorn

    from api.app import create_app
    from api.runs import make_run

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            if on_exit_signal is not None:
                on_exit_signal(sig)
            super().handle_exit(sig, frame)

    app = create_app(settings, make_run(settings, via, api_ready=api_ready), lock_wait=lock_wait)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep the CLI's logging set-up
        access_log=False,  # api.access_log.AccessLog writes one line per request
        lifespan="on",
    )
    return Server(config)


def serve(settings: Settings, *, via: str | None = None, api_only: bool = False) -> int:
    """Run the API (and, unless ``api_only``, this host's Prefect side) until stopped; exit code.

    Args:
        settings: the process's settings (the HTTP host, port and token, the runner's).
        via: how ``/runtask`` runs a task: ``prefect`` or ``direct``; ``None``: ``MEMO_HTTP_VIA``.
        api_only: serve the HTTP API alone: no catch-up, no deployments, no Prefect side.

    Returns:
        The process's exit code: 0 after a clean stop; 1 when the Prefect side did not start or
        the server never started; uvicorn's own when it could not start (a port taken).

    Raises:
        ValueError: an unknown ``via`` (``api.runs.make_run``).
    """
    from memo.runner import Runner

    runner = Runner(settings)
    removed = runner.remove_orphans()
    runner.db.dispose()
    if any(removed.values()):
        log.info("removed what crashed runs left: %s", removed)
    if not settings.http_token:
        log.warning("MEMO_HTTP_TOKEN is not set: the API is open to anyone who can reach %s:%d; "
                    "keep it on localhost or behind the proxy (production: memo-taskrunner setup-secrets, "
                    "docs/http.md)", settings.http_host, settings.http_port)

    prefect_side = None
    if not api_only:
        from flows.service import PrefectSide

        prefect_side = PrefectSide(settings)
    stopping = _Stopping(prefect_side)
    server = build_server(settings, via=via, api_ready=prefect_side.api_ready if prefect_side else None,
                          on_exit_signal=lambda sig: stopping.request(signal.Signals(sig).name))
    stopping.server = server
    with _signals_end_serve(stopping):
        if prefect_side is not None:
            _start_in_background(prefect_side, stopping, server)
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits (3) when it cannot start, e.g. the port is taken
            return int(exc.code or 1)
        finally:
            if prefect_side is not None:
                prefect_side.stop()
    return stopping.exit_code if server.started else 1


def _start_in_background(prefect_side, stopping: "_Stopping", server) -> None:
    """The Prefect side starts in a thread, once the HTTP port is up (importing Prefect and its
    temporary server would slow uvicorn's start). If it fails, ``serve`` stops with exit code 1
    (systemd's ``Restart=on-failure`` starts it again)."""

    def start() -> None:
        deadline = time.monotonic() + PORT_FIRST_WAIT
        while not server.started and stopping.reason is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if stopping.reason is not None:
            return  # stopped before it began
        try:
            prefect_side.start()
        except Exception:
            log.exception("the Prefect side did not start: stopping")
            stopping.exit_code = 1
            stopping.request("the Prefect side did not start")

    threading.Thread(target=start, name="memo-prefect-start", daemon=True).start()


class _Stopping:
    """What SIGTERM/SIGINT sets going, once, in a thread of its own (a signal handler must not
    block or log): no run starts any more; the served deployments' child is stopped; after
    ``STOP_GRACE`` the scripts still running are stopped (``memo.stopping``); at
    ``STOP_DEADLINE`` the process exits with what is left logged, whatever Prefect is doing."""

    def __init__(self, prefect_side):
        self.prefect_side = prefect_side
        self.server = None
        self.reason: str | None = None
        self.exit_code = 0
        self._requested = threading.Event()
        threading.Thread(target=self._run, name="memo-stop", daemon=True).start()

    def request(self, reason: str) -> None:
        """Safe in a signal handler: no lock another thread could hold, no logging."""
        if self.reason is None:
            self.reason = reason
        if self.server is not None:
            self.server.should_exit = True
        self._requested.set()

    def _run(self) -> None:
        self._requested.wait()
        started = time.monotonic()
        STOP.begin(f"the task runner is stopping ({self.reason})")
        log.info("%s: stopping; runs in flight have %g s to end, then their scripts are stopped",
                 self.reason, STOP_GRACE)
        if self.prefect_side is not None:
            self.prefect_side.stop()
        time.sleep(max(0.0, started + STOP_GRACE - time.monotonic()))
        stopped = STOP.abandon()
        if stopped:
            log.warning("stopped %d script(s) still running %g s after %s", stopped, STOP_GRACE, self.reason)
        time.sleep(max(0.0, started + STOP_DEADLINE - time.monotonic()))
        self._exit_now()

    def _exit_now(self) -> None:
        busy = sorted(t.name for t in threading.enumerate()
                      if not t.daemon and t is not threading.main_thread())
        log.warning("still busy %g s after %s (threads: %s): exiting now, abandoning what Prefect "
                    "was still doing", STOP_DEADLINE, self.reason, ", ".join(busy) or "main")
        if self.prefect_side is not None:
            self.prefect_side.abandon()
        for handler in logging.getLogger().handlers + logging.getLogger("memo").handlers:
            if isinstance(handler, logging.StreamHandler):  # not Prefect's API handler: it waits 5 s
                handler.flush()
        os._exit(self.exit_code)


@contextlib.contextmanager
def _signals_end_serve(stopping: _Stopping):
    """SIGTERM/SIGINT end ``serve`` normally.

    uvicorn shuts down gracefully on them, then re-raises the signal once it has
    restored the previous handlers; with the default handlers that kills the
    process on the spot, skipping ``prefect_side.stop()`` and the atexit hooks
    (orphaning the served deployments' child and Prefect's temporary server).
    Handlers that only take note (and start ``stopping``) let ``serve`` return 0 instead,
    also for a signal that comes before uvicorn has installed its own.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def note(sig, _frame) -> None:
        received.append(sig)
        stopping.request(signal.Signals(sig).name)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            log.info("stopped by %s", signal.Signals(received[0]).name)


def main(argv: list[str] | None = None) -> int:
    """``python -m api.serve [--via prefect|direct]``: the API alone, settings from MEMO_* (as ``serve``)."""
    import argparse
    import sys

    from api.runs import VIA_CHOICES
    from memo.errors import ConfigError
    from memo.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m api.serve")
    parser.add_argument("--via", choices=VIA_CHOICES, help="how runs start (default MEMO_HTTP_VIA or prefect)")
    parser.add_argument("--api-only", action="store_true", help="do not start the Prefect side")
    parser.add_argument("--config", metavar="FILE", help="old runner's application.properties (or MEMO_CONFIG)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc.message}", file=sys.stderr)
        return 2
    return serve(settings, via=args.via, api_only=args.api_only)


if __name__ == "__main__":
    raise SystemExit(main())
