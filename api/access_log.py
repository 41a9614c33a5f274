"""The API's access log: one line per request, as ASGI middleware.

Pure ASGI rather than a Starlette ``BaseHTTPMiddleware``, so a client that disconnects never
cancels the request's run. The line says what the request became (task, label, status,
outcome, duration, ``client_gone``), read from ``request.state`` where ``api.app`` and
``api.run_pool`` leave it; ``serve`` turns uvicorn's own access log off for it.

Its own module because it is logging, not routing: it wraps whatever app it is given.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("memo.api")

LOG_MESSAGE_CHARS = 200


class AccessLog:
    """One log line per request: task, client, path, status, outcome, duration (pure ASGI,
    so a client that disconnects never cancels the request's run)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.monotonic()
        status = [None]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._log(scope, status[0] or 500, time.monotonic() - started)

    @staticmethod
    def _log(scope, status: int, duration: float) -> None:
        state = scope.get("state") or {}
        path = scope.get("path", "")
        client = scope.get("client")
        client = f"{client[0]}:{client[1]}" if client else "-"
        outcome = " ".join(str(state.get("outcome", "")).split())
        if len(outcome) > LOG_MESSAGE_CHARS:
            outcome = outcome[:LOG_MESSAGE_CHARS] + "…"
        level = logging.DEBUG if path == "/health" and status == 200 else (
            logging.INFO if status < 500 else logging.ERROR)
        log.log(
            level,
            "%s %s task=%s label=%s client=%s status=%d duration=%.3fs%s outcome=%r",
            scope.get("method", "-"), path, state.get("task", "-"), state.get("label") or "-", client,
            status, duration, " client_gone=true" if state.get("client_gone") else "", outcome,
        )
