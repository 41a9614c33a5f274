"""Settings: environment, the old runner's Spring file, precedence, and clear errors."""

import pytest

from memo.errors import ConfigError
from memo.settings import cron_to_five_fields, jdbc_to_sqlalchemy, load_settings

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
