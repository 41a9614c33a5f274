"""The HTTP API MEMO Manager calls (``/runtask``, ``/dryruntask``, ``/health``); see docs/http.md."""
