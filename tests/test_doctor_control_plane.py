"""``doctor``'s warnings about the control plane, decided from the settings (no server needed;
the probes of a real Prefect API are in tests/flows/test_worker_boundary.py)."""

from __future__ import annotations

import pytest

from memo.doctor import container_network_warnings, http_api_warnings, prefect_api_findings
from memo.settings import ContainerSettings, Settings


def docker(network: str = "none", allow: str = "127.0.0.1:3306", **settings) -> Settings:
    return Settings(sandbox="docker", container=ContainerSettings(network=network, allow=allow), **settings)


@pytest.mark.parametrize("network, words", [
    ("host", "MEMO_CONTAINER_NETWORK=host: scripts share the host's network"),
    ("bridge", "MEMO_CONTAINER_NETWORK=bridge: the allow-list (MEMO_CONTAINER_ALLOW) does not apply"),
    ("memo-db-only", "MEMO_CONTAINER_NETWORK=memo-db-only: the allow-list (MEMO_CONTAINER_ALLOW) does not apply"),
])
def test_a_network_beyond_none_is_a_warning(network, words):
    [warning] = container_network_warnings(docker(network))
    assert warning.startswith(words)


def test_the_default_network_and_allow_list_are_quiet():
    assert container_network_warnings(docker(), "http://127.0.0.1:4200/api") == []


def test_an_allow_list_that_leads_to_the_control_plane_is_a_warning():
    settings = docker(allow="127.0.0.1:3306,localhost:8085,[::1]:4200,db.example.org:4200")
    assert container_network_warnings(settings, "http://127.0.0.1:4200/api") == [
        "MEMO_CONTAINER_ALLOW lets scripts reach localhost:8085, the runner's HTTP API",
        "MEMO_CONTAINER_ALLOW lets scripts reach [::1]:4200, the Prefect API",
    ]


def test_the_process_sandbox_is_a_warning():
    assert "scripts run on the host itself" in container_network_warnings(Settings(sandbox="process"))[0]


@pytest.mark.parametrize("host, network, warned", [
    ("0.0.0.0", "none", "listens on 0.0.0.0"),
    ("10.1.2.3", "none", "listens on 10.1.2.3"),
    ("127.0.0.1", "host", "scripts on the host's network reach the API on loopback"),
    ("127.0.0.1", "none", None),
    ("localhost", "none", None),
    ("::1", "none", None),
])
def test_no_http_token_is_a_warning_where_others_reach_the_api(host, network, warned):
    warnings = http_api_warnings(docker(network, http_host=host))
    if warned is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warned in warnings[0], warnings
    assert http_api_warnings(docker(network, http_host=host, http_token="t")) == []


def test_without_an_api_url_there_is_nothing_to_probe():
    assert prefect_api_findings(None, None) == ([], [])


def test_an_api_that_does_not_answer_is_a_failure():
    problems, warnings = prefect_api_findings("http://127.0.0.1:9/api", "memo:x", timeout=2)
    assert warnings == [] and problems[0].startswith("http://127.0.0.1:9/api does not answer")
