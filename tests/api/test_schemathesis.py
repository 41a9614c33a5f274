"""Schemathesis against /openapi.json of the live server: no server error, no undocumented answer.

The schemathesis CLI (the same command CI or an operator runs, see docs/http.md)
against a live server whose database holds one task, under the id the OpenAPI
document gives as its example (so the examples phase runs it: 200); the random
UUIDs schemathesis makes are unknown tasks (404), its malformed ids 422. The
token is set, so the 401 path and schemathesis' ``ignored_auth`` check are
exercised too. Bounded: 25 examples per operation, 15 s of fuzzing.

(``schemathesis.pytest.from_fixture`` is not used: schemathesis 4.32 fails on
pytest 9's nodes, ``'Function' object has no attribute '_nodeid'``.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from api.app import EXAMPLE_TASK_ID, create_app
from api.runs import DirectRuns
from tests.api.conftest import live_server
from tests.conftest import make_settings

TOKEN = "schemathesis-token"


def test_api_conforms_to_its_openapi_document(tmp_path, sqlite_url, smemo):
    task_id = smemo.task("abccorp", "example.xml", "print('<example/>')")
    smemo.execute("UPDATE task SET id = :new WHERE id = :old", new=EXAMPLE_TASK_ID, old=task_id)
    settings = make_settings(tmp_path, sqlite_url, busy_hours=0, http_token=TOKEN)
    st = Path(sys.executable).with_name("schemathesis")
    with live_server(create_app(settings, DirectRuns(settings))) as url:
        result = subprocess.run(
            [str(st), "run", f"{url}/openapi.json",
             "--checks", "all",
             "--header", f"Authorization: Bearer {TOKEN}",
             "--max-examples", "25", "--max-time", "15",
             "--phases", "examples,coverage,fuzzing", "--seed", "1",
             "--generation-database", "none", "--request-timeout", "30",
             "--no-color", "--report-dir", str(tmp_path / "report")],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert (settings.exports_dir / "abccorp" / "example.xml").read_text() == "<example/>\n"
