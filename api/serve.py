"""``memo-taskrunner serve``: the HTTP API on MEMO_HTTP_HOST:MEMO_HTTP_PORT (+ the Prefect side).

Clean-up first (script trees, partial exports and containers crashed runs left),
then uvicorn in the foreground until SIGINT/SIGTERM. On shutdown uvicorn stops
accepting, lets open requests finish, and the app waits for runs still going.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading

from memo.settings import Settings

log = logging.getLogger("memo.api")


def build_server(settings: Settings, *, via: str | None = None, lock_wait: float = 0.0):
    """A configured ``uvicorn.Server`` for these settings (not started)."""
    import uvicorn

    from api.app import create_app
    from api.runs import make_run

    app = create_app(settings, make_run(settings, via), lock_wait=lock_wait)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep the CLI's logging set-up
        access_log=False,  # api.app.AccessLog writes one line per request
        lifespan="on",
    )
    return uvicorn.Server(config)


def start_prefect_side(settings: Settings):
    """This host's Prefect side (``flows.service.start``): catch-up of a missed night and the
    served deployments, unless workers serve them. Returns something with ``stop()``."""
    from flows.service import start

    return start(settings)


def serve(settings: Settings, *, via: str | None = None, api_only: bool = False) -> int:
    """Run the API (and, unless ``api_only``, this host's Prefect side) until stopped; exit code."""
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

    server = build_server(settings, via=via)
    with _signals_end_serve():
        prefect_side = None if api_only else start_prefect_side(settings)
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits (3) when it cannot start, e.g. the port is taken
            return int(exc.code or 1)
        finally:
            if prefect_side is not None:
                prefect_side.stop()
    return 0 if server.started else 1


@contextlib.contextmanager
def _signals_end_serve():
    """SIGTERM/SIGINT end ``serve`` normally.

    uvicorn shuts down gracefully on them, then re-raises the signal once it has
    restored the previous handlers; with the default handlers that kills the
    process on the spot, skipping ``prefect_side.stop()`` and the atexit hooks
    (orphaning the served deployments' child and Prefect's temporary server).
    Handlers that only take note let ``serve`` return 0 instead.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {sig: signal.signal(sig, lambda s, _f: received.append(s)) for sig in (signal.SIGINT, signal.SIGTERM)}
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
