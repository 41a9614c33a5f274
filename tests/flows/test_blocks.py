"""The runner's Blocks: saved in Prefect, named as flow parameters, they win over the environment."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import SecretStr, ValidationError

from blocks.memo import RUN_FIELDS, MemoContainerSettings, MemoDatabaseCredentials, apply_blocks
from memo.errors import ConfigError
from memo.settings import ContainerSettings, Settings
from tests.conftest import make_settings


def test_credentials_build_the_sqlalchemy_url_and_hide_the_password():
    block = MemoDatabaseCredentials(host="db1", port=3307, username="me@x", password=SecretStr("p/ss:w@rd"))
    assert block.sqlalchemy_url() == "mysql+pymysql://me%40x:p%2Fss%3Aw%40rd@db1:3307/oapen_memo?charset=utf8mb4"
    assert "p/ss" not in repr(block) and "p/ss" not in str(block.model_dump())
    assert MemoDatabaseCredentials(url=SecretStr("sqlite:///x.db")).sqlalchemy_url() == "sqlite:///x.db"


def test_container_block_is_validated_like_the_settings():
    with pytest.raises(ValidationError):
        MemoContainerSettings(container={"user": "0:0"})
    with pytest.raises(ValidationError):
        MemoContainerSettings(container={"memory": "lots"})
    with pytest.raises(ValidationError):
        MemoContainerSettings(task_timeout=0)


def test_the_block_holds_the_container_settings_and_declares_none_of_them():
    """One source of the fields: a new ContainerSettings field is on the block (and in the
    schema the UI's form is built from) with no change to the block."""
    assert MemoContainerSettings.model_fields["container"].annotation is ContainerSettings
    assert not set(MemoContainerSettings.model_fields) & (set(ContainerSettings.model_fields) - {"docker_host"})
    schema = MemoContainerSettings.model_json_schema()
    assert set(schema["definitions"]["ContainerSettings"]["properties"]) == set(ContainerSettings.model_fields)
    assert schema["block_schema_references"]["docker_host"]["block_type_slug"] == "docker-host"
    for name in RUN_FIELDS:  # the four run settings are Settings' fields, copied
        ours, theirs = MemoContainerSettings.model_fields[name], Settings.model_fields[name]
        assert (ours.annotation, ours.default, ours.description, ours.metadata) == (
            theirs.annotation, theirs.default, theirs.description, theirs.metadata)


def test_a_block_holds_its_own_values_not_the_environment_of_whoever_loads_it(monkeypatch):
    monkeypatch.setenv("MEMO_CONTAINER_MEMORY", "2g")
    assert MemoContainerSettings().container.memory == "1g"
    partial = MemoContainerSettings.model_validate({"container": {"cpus": 2}})  # a UI form may send part
    assert (partial.container.memory, partial.container.cpus) == ("1g", 2.0)


def test_a_block_saved_flat_before_issue_14_loads_into_container():
    old = {"sandbox": "process", "concurrency": 3, "network": "host", "memory": "3g",
           "environment": {"X": "1"}, "docker_host": "tcp://127.0.0.1:2375"}
    block = MemoContainerSettings.model_validate(old)
    assert (block.sandbox, block.concurrency, block.docker_host) == ("process", 3, None)
    c = block.container
    assert (c.network, c.memory, c.environment, c.docker_host, c.cpus) == (
        "host", "3g", {"X": "1"}, "tcp://127.0.0.1:2375", 1.0)
    resaved = MemoContainerSettings.model_validate({**old, "container": {"memory": "2g"}})  # Prefect merges on save
    assert (resaved.container.memory, resaved.container.network, resaved.model_extra) == ("2g", "none", {})


def test_the_docker_host_block_gives_the_engine_and_refuses_what_the_sandbox_does_not_take():
    from prefect_docker import DockerHost

    env = ContainerSettings(docker_host="unix:///env.sock", docker_timeout=30, memory="2g")
    engine = MemoContainerSettings(docker_host=DockerHost(base_url="tcp://10.0.0.9:2376", timeout=7))
    merged = engine.container_settings(env)
    assert (merged.docker_host, merged.docker_timeout, merged.memory) == ("tcp://10.0.0.9:2376", 7.0, "1g")
    # DockerHost(): "from the environment"
    unset = MemoContainerSettings(docker_host=DockerHost()).container_settings(env)
    assert (unset.docker_host, unset.docker_timeout) == ("unix:///env.sock", 30.0)
    own = MemoContainerSettings(container={"docker_host": "unix:///block.sock"}).container_settings(env)
    assert own.docker_host == "unix:///block.sock"
    with pytest.raises(ConfigError, match=r"client_kwargs \(tls\)"):
        MemoContainerSettings(docker_host=DockerHost(client_kwargs={"tls": True})).container_settings(env)


def test_the_sandbox_client_takes_the_docker_timeout():
    from memo.sandbox.docker import DockerSandbox
    from memo.sandbox.engine import CLIENT_TIMEOUT

    sandbox = DockerSandbox(ContainerSettings(docker_timeout=7), "memo-python")
    assert sandbox.engine.client().timeout == 7
    assert DockerSandbox(ContainerSettings(), "memo-python").engine.client().timeout == CLIENT_TIMEOUT


@pytest.mark.usefixtures("prefect_harness")
def test_a_saved_docker_host_is_the_runs_engine_and_no_docker_host_leaves_the_environments(tmp_path, monkeypatch):
    """Saved and loaded through the Prefect API, as the UI does: a Docker Host block saved on
    its own, chosen in the container block."""
    from prefect.client.orchestration import get_client
    from prefect_docker import DockerHost

    DockerHost(base_url="tcp://127.0.0.1:2375", timeout=9).save("memo-test-engine", overwrite=True)
    MemoContainerSettings(sandbox="process", container={"memory": "2g", "allow": "127.0.0.1:3307"},
                          docker_host=DockerHost.load("memo-test-engine")).save("memo-test-remote", overwrite=True)
    MemoContainerSettings(container={"memory": "3g"}).save("memo-test-local", overwrite=True)
    monkeypatch.setenv("MEMO_CONTAINER_DOCKER_HOST", "unix:///run/env-engine.sock")
    monkeypatch.setenv("MEMO_CONTAINER_MEMORY", "5g")
    settings = make_settings(tmp_path, "sqlite://", container=ContainerSettings())

    loaded = MemoContainerSettings.load("memo-test-remote")
    assert isinstance(loaded.docker_host, DockerHost) and loaded.docker_host.base_url == "tcp://127.0.0.1:2375"
    remote = apply_blocks(settings, container_block="memo-test-remote")
    assert (remote.container.docker_host, remote.container.docker_timeout) == ("tcp://127.0.0.1:2375", 9.0)
    assert (remote.sandbox, remote.container.memory, remote.container.allow) == ("process", "2g", "127.0.0.1:3307")
    local = apply_blocks(settings, container_block="memo-test-local")
    assert (local.container.docker_host, local.container.memory) == ("unix:///run/env-engine.sock", "3g")

    with get_client(sync_client=True) as client:  # what the UI's form is built from
        document = client.read_block_document_by_name("memo-test-remote", "memo-container-settings")
    fields = document.block_schema.fields
    assert set(fields["definitions"]["ContainerSettings"]["properties"]) == set(ContainerSettings.model_fields)
    assert fields["block_schema_references"]["docker_host"]["block_type_slug"] == "docker-host"
    assert document.block_document_references["docker_host"]["block_document"]["name"] == "memo-test-engine"


def test_a_container_block_keeps_the_allow_list_by_default_and_validates_it(tmp_path):
    """A block must not open the network by its own default (it said `host` before issue 12)."""
    base = make_settings(tmp_path, "sqlite://").container
    merged = MemoContainerSettings().container_settings(base)
    assert (merged.network, merged.allow, merged.max_connections) == ("none", "127.0.0.1:3306", 16)
    with pytest.raises(ValidationError, match="by name"):
        MemoContainerSettings(container={"allow": "10.0.0.5:3306"})
    with pytest.raises(ValidationError):
        MemoContainerSettings(container={"environment": {"PREFECT_API_AUTH_STRING": "x"}})


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.mariadb
def test_flows_use_the_named_blocks(memo, tmp_path, database_url, monkeypatch):
    from flows.nightly import run_nightly

    task_id = memo.task("abccorp", "blocky.xml", "print('from blocks')")
    MemoDatabaseCredentials(url=SecretStr(database_url)).save("memo-test-db", overwrite=True)
    MemoContainerSettings(sandbox="process", concurrency=1, task_timeout=20,
                          container={"environment": {"X": "1"}}).save("memo-test-containers", overwrite=True)
    monkeypatch.setenv("MEMO_CONTAINER_MEMORY", "2g")  # the environment does not override a block
    # settings pointing nowhere: only the block can make this night work
    settings = make_settings(tmp_path, "sqlite:////nonexistent/dir/memo.sqlite", sandbox="docker")
    merged = apply_blocks(settings, database_block="memo-test-db", container_block="memo-test-containers")
    assert merged.database_url == database_url and merged.sandbox == "process"
    assert merged.concurrency == 1 and merged.container.environment == {"X": "1"}
    assert merged.container.memory == "1g" and merged.exports_dir == settings.exports_dir
    state = run_nightly(settings, dt.date(2024, 5, 15), database_block="memo-test-db",
                        container_block="memo-test-containers")
    assert state.is_completed(), state.message
    assert [bool(r.is_success) for r in memo.runlog(task_id)] == [True]
