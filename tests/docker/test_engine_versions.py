"""Which engines the docker sandbox accepts (pure: no engine needed)."""

import pytest

from memo.sandbox.engine import engine_problem


def docker(version, api="1.43"):
    return {"Version": version, "ApiVersion": api, "Components": [{"Name": "Engine", "Version": version}]}


def podman(version, api="1.41"):
    return {"Version": version, "ApiVersion": api,
            "Components": [{"Name": "Podman Engine", "Version": version}, {"Name": "Conmon"}]}


@pytest.mark.parametrize("info", [docker("24.0.7"), docker("25.0.3", "1.44"), docker("28.1.1", "1.49"),
                                  podman("4.3.1"), podman("5.2.0", "1.41")])
def test_fit_engines(info):
    assert engine_problem(info) is None


@pytest.mark.parametrize("info, words", [
    (docker("24.0.6"), "24.0.7"),
    (docker("20.10.24", "1.41"), "truncate"),
    (docker("23.0.0", "1.42"), "too old"),
    (podman("3.4.4", "1.40"), "1.41"),
    (podman("3.4.4"), "Podman 3.4.4 is too old"),
    (docker("garbage"), "cannot tell"),
])
def test_unfit_engines_are_explained(info, words):
    problem = engine_problem(info)
    assert problem and words in problem
