"""``memo-taskrunner serve``: the HTTP API on MEMO_HTTP_HOST:MEMO_HTTP_PORT (+ the Prefect side).

Clean-up first (script trees, partial exports and containers crashed runs left),
then uvicorn in the foreground until SIGINT/SIGTERM. On shutdown uvicorn stops
accepting, lets open requests finish, and the app waits for runs still going.
"""

from __future__ import annotations

import logging

from memo.settings import Settings

log = logging.getLogger("memo.api")


def build_server(settings: Settings, *, via: str | None = None, lock_wait: float = 0.0, sockets=None):
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
    """Hook: start this host's Prefect side (the nightly deployment) next to the API.

    Returns something with ``stop()``, or None when flows/ offers nothing to start.
    """
    try:
        from flows import service  # type: ignore[attr-defined]
    except ImportError:
        log.warning("flows.service not found: serving the HTTP API only, no nightly deployment")
        return None
    return service.start(settings)


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
                    "keep it on localhost or behind the proxy", settings.http_host, settings.http_port)

    server = build_server(settings, via=via)
    prefect_side = None if api_only else start_prefect_side(settings)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits 1 when it cannot bind
        return int(exc.code or 1)
    finally:
        if prefect_side is not None:
            prefect_side.stop()
    return 0 if server.started else 1


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
