"""The runner's Blocks: saved in Prefect, named as flow parameters, they win over the environment."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import SecretStr, ValidationError

from blocks.memo import MemoContainerSettings, MemoDatabaseCredentials, apply_blocks
from tests.conftest import make_settings


def test_credentials_build_the_sqlalchemy_url_and_hide_the_password():
    block = MemoDatabaseCredentials(host="db1", port=3307, username="me@x", password=SecretStr("p/ss:w@rd"))
    assert block.sqlalchemy_url() == "mysql+pymysql://me%40x:p%2Fss%3Aw%40rd@db1:3307/oapen_memo?charset=utf8mb4"
    assert "p/ss" not in repr(block) and "p/ss" not in str(block.model_dump())
    assert MemoDatabaseCredentials(url=SecretStr("sqlite:///x.db")).sqlalchemy_url() == "sqlite:///x.db"


def test_container_block_is_validated_like_the_settings():
    with pytest.raises(ValidationError):
        MemoContainerSettings(user="0:0")
    with pytest.raises(ValidationError):
        MemoContainerSettings(memory="lots")


def test_a_container_block_keeps_the_allow_list_by_default_and_validates_it(tmp_path):
    """A block must not open the network by its own default (it said `host` before issue 12)."""
    base = make_settings(tmp_path, "sqlite://").container
    merged = MemoContainerSettings().container_settings(base)
    assert (merged.network, merged.allow, merged.max_connections) == ("none", "127.0.0.1:3306", 16)
    with pytest.raises(ValidationError, match="by name"):
        MemoContainerSettings(allow="10.0.0.5:3306").container_settings(base)
    with pytest.raises(ValidationError):
        MemoContainerSettings(environment={"PREFECT_API_AUTH_STRING": "x"}).container_settings(base)


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.mariadb
def test_flows_use_the_named_blocks(memo, tmp_path, database_url, monkeypatch):
    from flows.nightly import run_nightly

    task_id = memo.task("abccorp", "blocky.xml", "print('from blocks')")
    MemoDatabaseCredentials(url=SecretStr(database_url)).save("memo-test-db", overwrite=True)
    MemoContainerSettings(sandbox="process", concurrency=1, task_timeout=20,
                          environment={"X": "1"}).save("memo-test-containers", overwrite=True)
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
