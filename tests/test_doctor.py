"""``doctor`` says per line what it checked, against the real MariaDB and the real Podman API:
an ``ok`` line with what it found for each check of a good set-up, and a ``FAIL`` naming what
to fix (the missing tables, the engine's socket and the setting naming it, the image)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from memo import schema
from memo.doctor import run_doctor
from tests.conftest import _mariadb_database
from tests.docker.conftest import docker_settings

CHECKS = ["database", "exports folder", "work folder", "container engine", "image", "container network",
          "Prefect API", "HTTP API"]


@pytest.fixture
def mariadb(request):
    """A MariaDB database of its own with the tables the test asks for (all of MEMO's by default)."""
    admin, name, url = _mariadb_database()
    engine = sa.create_engine(url)
    tables = getattr(request, "param", schema.RUNNER_TABLES)
    schema.metadata.create_all(engine, tables=[schema.metadata.tables[t] for t in tables])
    engine.dispose()
    yield name, url
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    admin.dispose()


def doctor(settings, capsys) -> tuple[int, dict[str, list[str]]]:
    """Exit status and the lines per check name."""
    status = run_doctor(settings)
    lines: dict[str, list[str]] = {}
    for line in capsys.readouterr().out.splitlines():
        name = line[6:].split(":", 1)[0]
        lines.setdefault(name, []).append(line)
    return status, lines


@pytest.mark.docker
def test_a_good_set_up_has_an_ok_line_per_check(tmp_path, mariadb, capsys):
    name, url = mariadb
    status, lines = doctor(docker_settings(tmp_path, database_url=url), capsys)
    assert status == 0, lines
    assert list(lines) == CHECKS and all(len(v) == 1 and v[0].startswith("ok    ") for v in lines.values())
    assert lines["database"] == [f"ok    database: 127.0.0.1:3306/{name} reachable, "
                                 "tables homedir, query, script, task, runlog present"]
    assert f"{tmp_path / 'exports'} writable" in lines["exports folder"][0]
    assert "Podman" in lines["container engine"][0] and "new enough" in lines["container engine"][0]
    assert "memo-python" in lines["image"][0] and "is on the engine" in lines["image"][0]
    assert "scripts reach only 127.0.0.1:3306" in lines["container network"][0]


@pytest.mark.parametrize("mariadb", [("homedir", "query")], indirect=True)
def test_a_database_without_memo_tables_fails_naming_them(tmp_path, mariadb, capsys):
    name, url = mariadb
    status, lines = doctor(docker_settings(tmp_path, database_url=url, docker_host="unix:///nonexistent"), capsys)
    assert status == 1
    assert lines["database"] == [f"FAIL  database: 127.0.0.1:3306/{name} reachable, but MEMO's tables "
                                 "script, task, runlog are missing: MEMO_DATABASE_URL must name MEMO's oapen_memo"]


def test_an_unreachable_database_names_where(tmp_path, capsys):
    settings = docker_settings(tmp_path, database_url="mysql+pymysql://root@127.0.0.1:1/oapen_memo",
                               docker_host="unix:///nonexistent")
    [line] = doctor(settings, capsys)[1]["database"]
    assert line.startswith("FAIL  database: 127.0.0.1:1/oapen_memo: MEMO database unreachable")


@pytest.mark.docker
def test_an_unreachable_engine_socket_fails_naming_the_socket_and_the_setting(tmp_path, mariadb, capsys,
                                                                                monkeypatch):
    socket = tmp_path / "no-engine.sock"
    status, lines = doctor(docker_settings(tmp_path, database_url=mariadb[1], docker_host=f"unix://{socket}"),
                           capsys)
    assert status == 1
    [engine] = lines["container engine"]
    assert engine.startswith("FAIL  container engine: container engine unreachable at ")
    assert f"no socket at {socket}" in engine and "(the endpoint is from MEMO_CONTAINER_DOCKER_HOST)" in engine
    assert lines["image"] == ["skip  image: not checked: localhost/memo-python:latest: "
                              "the container engine does not answer"]
    assert lines["database"][0].startswith("ok    ")  # the other checks still run
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
    [engine] = doctor(docker_settings(tmp_path, database_url=mariadb[1], docker_host=None), capsys)[1][
        "container engine"]
    assert str(socket) in engine and "(the endpoint is from DOCKER_HOST)" in engine


@pytest.mark.docker
def test_a_missing_image_fails_naming_it(tmp_path, mariadb, capsys):
    settings = docker_settings(tmp_path, database_url=mariadb[1])
    settings.docker_image = "localhost/memo-no-such-image:0"
    status, lines = doctor(settings, capsys)
    assert status == 1
    [image] = lines["image"]
    assert image.startswith("FAIL  image: image localhost/memo-no-such-image:0 is not on the container engine")
    assert "MEMO_DOCKER_IMAGE" in image and lines["container engine"][0].startswith("ok    ")


def test_a_folder_that_cannot_be_written_fails_naming_its_setting(tmp_path, mariadb, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings = docker_settings(tmp_path, database_url=mariadb[1], docker_host="unix:///nonexistent")
    settings.exports_dir = blocker / "exports"  # under a file: no user, root included, can make it
    [line] = doctor(settings, capsys)[1]["exports folder"]
    assert line.startswith(f"FAIL  exports folder: {blocker / 'exports'} (MEMO_EXPORTS_DIR) is not writable")
