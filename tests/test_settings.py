"""Settings: environment, the old runner's Spring file, precedence, and clear errors."""

import pytest

from memo.errors import ConfigError
from memo.settings import (
    ContainerSettings,
    Settings,
    cron_to_five_fields,
    jdbc_to_sqlalchemy,
    load_settings,
    settings_table,
    shown_settings,
)

SPRING = """\
# the Java runner's application.properties
server.port=8090
spring.datasource.url=jdbc:mysql://db.example:3306/oapen_memo?useSSL=false&serverTimezone=UTC
spring.datasource.username=memo
spring.datasource.password=p@ss:w/rd
docker.image.python=oapen/ubuntu2204python310
path.temp.pythonscripts=/var/memo/tmp
path.temp.pythonscripts.purge=false
path.exports=/var/memo/exports
taskrunner.cronschedule=0 0 2 * * *
taskRunner.busy.starttime=02:00
taskRunner.busy.hours=4
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("MEMO_"):
            monkeypatch.delenv(key)


def test_spring_file_is_read(tmp_path):
    path = tmp_path / "application.properties"
    path.write_text(SPRING)
    s = load_settings(path)
    assert s.http_port == 8090
    assert s.database_url == "mysql+pymysql://memo:p%40ss%3Aw%2Frd@db.example:3306/oapen_memo?charset=utf8mb4"
    assert s.docker_image == "oapen/ubuntu2204python310"
    assert str(s.work_dir) == "/var/memo/tmp" and s.purge_work_dir is False
    assert str(s.exports_dir) == "/var/memo/exports"
    assert s.schedule_cron == "0 2 * * *"
    assert (s.busy_start, s.busy_hours) == ("02:00", 4)


def test_environment_overrides_file(tmp_path, monkeypatch):
    path = tmp_path / "application.properties"
    path.write_text(SPRING)
    monkeypatch.setenv("MEMO_HTTP_PORT", "9000")
    monkeypatch.setenv("MEMO_CONFIG", str(path))
    s = load_settings()
    assert s.http_port == 9000 and s.docker_image == "oapen/ubuntu2204python310"


def test_explicit_beats_environment_beats_spring_file_beats_default(tmp_path, monkeypatch):
    """One setting (the HTTP port) through each source in turn, and where each value came from."""
    path = tmp_path / "application.properties"
    path.write_text(SPRING)  # server.port=8090
    s = load_settings()
    assert (s.http_port, s.source_of("http_port")) == (8085, "default")
    s = load_settings(path)
    assert (s.http_port, s.source_of("http_port")) == (8090, "spring file")
    monkeypatch.setenv("MEMO_HTTP_PORT", "9000")
    s = load_settings(path)
    assert (s.http_port, s.source_of("http_port")) == (9000, "environment")
    assert s.source_of("docker_image") == "spring file" and s.source_of("concurrency") == "default"
    s = Settings(http_port=7000)  # an explicit argument (the demo's own database, a test's folders)
    assert (s.http_port, s.source_of("http_port")) == (7000, "explicit")
    monkeypatch.setenv("MEMO_DATABASE_URL", "sqlite:///production.sqlite")
    assert Settings(database_url="sqlite:///demo.sqlite").database_url == "sqlite:///demo.sqlite"


def test_an_explicit_config_file_beats_memo_config(tmp_path, monkeypatch):
    explicit, from_env = tmp_path / "explicit.properties", tmp_path / "env.properties"
    explicit.write_text("server.port=8091\n")
    from_env.write_text("server.port=8092\n")
    monkeypatch.setenv("MEMO_CONFIG", str(from_env))
    assert load_settings().http_port == 8092
    assert load_settings(explicit).http_port == 8091


def test_container_settings_say_where_they_came_from(monkeypatch):
    monkeypatch.setenv("MEMO_CONTAINER_MEMORY", "2g")
    s = load_settings()
    assert s.source_of("container.memory") == "environment" and s.source_of("container.cpus") == "default"
    assert ContainerSettings(memory="3g").source_of("memory") == "explicit"


def test_the_table_shows_each_value_in_force_and_its_source(tmp_path, monkeypatch):
    path = tmp_path / "application.properties"
    path.write_text(SPRING)
    monkeypatch.setenv("MEMO_HTTP_PORT", "9000")
    rows = {row[0]: row for row in settings_table(load_settings(path))}
    assert rows["MEMO_HTTP_PORT"][1:4] == ("9000", "environment", "8085")
    assert rows["MEMO_DOCKER_IMAGE"][2] == "spring file (docker.image.python)"
    assert rows["MEMO_BUSY_HOURS"][1:3] == ("4.0", "spring file (taskRunner.busy.hours)")
    assert rows["MEMO_CONCURRENCY"][1:3] == ("2", "default")
    assert rows["MEMO_CONTAINER_MEMORY"][1:3] == ("1g", "default")
    assert set(rows) == {f"MEMO_{n.upper()}" for n in Settings.model_fields if n != "container"} | {
        f"MEMO_CONTAINER_{n.upper()}" for n in ContainerSettings.model_fields}


def test_secrets_are_never_shown(tmp_path, monkeypatch):
    path = tmp_path / "application.properties"
    path.write_text(SPRING)  # spring.datasource.password=p@ss:w/rd
    monkeypatch.setenv("MEMO_HTTP_TOKEN", "tok-4f2a9c")
    monkeypatch.setenv("MEMO_CONTAINER_ENVIRONMENT", '{"LIBRARY_DB_PASSWORD": "lib-pw-77e1"}')
    s = load_settings(path)
    shown = repr(settings_table(s)) + repr(shown_settings(s))
    for secret in ("p@ss", "p%40ss", "tok-4f2a9c", "lib-pw-77e1"):
        assert secret not in shown
    assert "memo:***@db.example:3306/oapen_memo" in shown and "LIBRARY_DB_PASSWORD" in shown
    monkeypatch.setenv("MEMO_DATABASE_URL", "mysql+pymysql://memo@db/oapen_memo?password=q-pw-12")
    assert "q-pw-12" not in repr(shown_settings(load_settings()))


def test_container_settings_from_environment(monkeypatch):
    monkeypatch.setenv("MEMO_CONTAINER_NETWORK", "none")
    monkeypatch.setenv("MEMO_CONTAINER_ENVIRONMENT", '{"LIBRARY_DB_HOST": "127.0.0.1"}')
    s = load_settings()
    assert s.container.network == "none" and s.container.environment == {"LIBRARY_DB_HOST": "127.0.0.1"}


@pytest.mark.parametrize(
    "var,value,named",
    [
        ("MEMO_HTTP_PORT", "eighty", "MEMO_HTTP_PORT (or server.port)"),
        ("MEMO_SANDBOX", "vm", "MEMO_SANDBOX"),
        ("MEMO_BUSY_START", "25:00", "MEMO_BUSY_START"),
        ("MEMO_SCHEDULE_CRON", "0 2 * *", "MEMO_SCHEDULE_CRON"),
        ("MEMO_TIMEZONE", "Mars/Olympus", "MEMO_TIMEZONE"),
        ("MEMO_CONCURRENCY", "0", "MEMO_CONCURRENCY"),
        ("MEMO_CONTAINER_USER", "root", "MEMO_CONTAINER_USER"),
        ("MEMO_CONTAINER_MEMORY", "lots", "MEMO_CONTAINER_MEMORY"),
        ("MEMO_CONTAINER_ALLOW", "10.1.2.3:3306", "MEMO_CONTAINER_ALLOW"),
        ("MEMO_CONTAINER_ALLOW", "db.example.org", "MEMO_CONTAINER_ALLOW"),
        ("MEMO_CONTAINER_MAX_CONNECTIONS", "0", "MEMO_CONTAINER_MAX_CONNECTIONS"),
    ],
)
def test_wrong_value_names_the_setting(monkeypatch, var, value, named):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert named in err.value.message and value in err.value.message


def test_container_egress_defaults_and_allow_list(monkeypatch):
    s = load_settings()
    assert s.container.network == "none"  # scripts reach only the allow-list
    assert s.container.allow == "127.0.0.1:3306" and s.container.max_connections == 16
    monkeypatch.setenv("MEMO_CONTAINER_ALLOW", " 127.0.0.1:3306, DB.example.org:3306 ,[::1]:5432")
    monkeypatch.setenv("MEMO_CONTAINER_MAX_CONNECTIONS", "4")
    s = load_settings()
    assert s.container.allow == "127.0.0.1:3306,db.example.org:3306,[::1]:5432"
    assert s.container.max_connections == 4
    monkeypatch.setenv("MEMO_CONTAINER_ALLOW", "")
    assert load_settings().container.allow == ""  # no egress at all


def test_a_non_loopback_address_is_refused_with_the_way_out(monkeypatch):
    monkeypatch.setenv("MEMO_CONTAINER_ALLOW", "127.0.0.1:3306,192.168.1.20:3306")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "MEMO_CONTAINER_ALLOW" in err.value.message
    assert "192.168.1.20" in err.value.message and "list the host by name" in err.value.message


@pytest.mark.parametrize("key", ["MEMO_DATABASE_URL", "PREFECT_API_AUTH_STRING", "DOCKER_HOST", "memo_http_token"])
def test_runner_variables_never_go_into_containers(monkeypatch, key):
    monkeypatch.setenv("MEMO_CONTAINER_ENVIRONMENT", '{"LIBRARY_DB_HOST": "db", "%s": "s3cr3t-value"}' % key)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "MEMO_CONTAINER_ENVIRONMENT" in err.value.message and key in err.value.message
    assert "s3cr3t-value" not in err.value.message  # an error message never shows a secret


def test_unreadable_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "missing.properties")


def test_crons():
    assert cron_to_five_fields("0 0 2 * * *") == "0 2 * * *"
    assert cron_to_five_fields("0 30 1 * * ?") == "30 1 * * *"
    assert cron_to_five_fields("15 3 * * 1") == "15 3 * * 1"
    with pytest.raises(ValueError):
        cron_to_five_fields("30 0 2 * * *")


def test_jdbc_url():
    assert jdbc_to_sqlalchemy("jdbc:mysql://h/db", "u", None) == "mysql+pymysql://u@h/db?charset=utf8mb4"
    with pytest.raises(ValueError, match="postgresql"):
        jdbc_to_sqlalchemy("jdbc:postgresql://h/db", "u", "p")
