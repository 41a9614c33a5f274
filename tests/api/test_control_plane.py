"""``memo-taskrunner serve`` with its Prefect API closed (issue 12): without ``PREFECT_API_URL``
each process gets its own auth string for the temporary server, unless the operator set one.

The rest of the issue's checks of ``serve`` run where the server they need is started anyway:
a guard-clean script run through ``GET /runtask/{id}`` of the unit deploy/memo-http.service
starts, next to the Prefect server unit, in tests/flows/test_worker_boundary.py; the one
temporary server ``serve`` starts in-process (it refuses requests without the per-process auth
string, while the HTTP runs, the catch-up and the served deployments' child all work through
it) in tests/api/test_serve_stop.py, on the same ``serve`` as its first dry run and its SIGTERM.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.control_plane import BIN

ROOT = Path(__file__).resolve().parents[2]

PRINT_AUTH = (
    "import json, os\n"
    "from flows.prefect_settings import prefect_environment\n"
    "prefect_environment()\n"
    "from prefect.settings import get_current_settings\n"
    "s = get_current_settings()\n"
    "secret = lambda v: v.get_secret_value() if v else None\n"
    "print(json.dumps([os.environ.get('PREFECT_SERVER_API_AUTH_STRING'), secret(s.server.api.auth_string),"
    " secret(s.api.auth_string)]))\n"
)


def _auth_after_prefect_environment(**env: str) -> list:
    base = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": "/nonexistent-home", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PRINT_AUTH], env={**base, **env}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_temporary_server_gets_an_auth_string_per_process_unless_the_operator_set_one(tmp_path):
    home = {"PREFECT_HOME": str(tmp_path / "prefect")}
    cases = [home, home,
             dict(PREFECT_SERVER_API_AUTH_STRING="ops:chosen", **home),
             dict(PREFECT_API_URL="http://127.0.0.1:9/api", **home)]
    with ThreadPoolExecutor(len(cases)) as pool:  # four separate processes, started side by side
        first, second, chosen, real = pool.map(lambda env: _auth_after_prefect_environment(**env), cases)
    for seen in (first, second):
        assert seen[0] and seen[0] == seen[1] == seen[2]  # server and client agree, and Prefect sees it
        assert re.fullmatch(r"memo:[A-Za-z0-9_-]{40,}", seen[0])
    assert first[0] != second[0]
    # the operator's own string is kept, for the server and its clients
    assert chosen == ["ops:chosen"] * 3
    # a real server (PREFECT_API_URL): nothing is added; its auth comes from secrets.env
    assert real == [None, None, None]
