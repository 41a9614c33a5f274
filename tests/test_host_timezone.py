"""The host's time zone by default, as the Java runner's JVM took it (TZ, then /etc/localtime)."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from memo.settings import Settings, host_timezone


@pytest.fixture
def no_memo_zone(monkeypatch):
    monkeypatch.delenv("MEMO_TIMEZONE", raising=False)
    return monkeypatch


@pytest.mark.parametrize("tz, zone", [
    ("America/New_York", "America/New_York"),
    (":Asia/Tokyo", "Asia/Tokyo"),
    ("/usr/share/zoneinfo/Europe/Lisbon", "Europe/Lisbon"),
])
def test_tz_names_the_zone(no_memo_zone, tz, zone):
    no_memo_zone.setenv("TZ", tz)
    assert host_timezone() == (zone, "TZ")
    assert Settings().timezone == zone
    assert Settings().zone.key == zone


def test_without_tz_the_zone_is_that_of_etc_localtime(no_memo_zone):
    import os

    no_memo_zone.delenv("TZ", raising=False)
    link = os.readlink("/etc/localtime") if os.path.islink("/etc/localtime") else None
    zone, source = host_timezone()
    if link:
        assert link.endswith("/" + zone) and source == "/etc/localtime"
    assert Settings().timezone == zone


def test_an_unknown_tz_falls_through_to_the_next_source(no_memo_zone):
    no_memo_zone.setenv("TZ", "Not/AZone")
    assert host_timezone()[1] != "TZ"


def test_memo_timezone_and_an_explicit_argument_win(no_memo_zone):
    no_memo_zone.setenv("TZ", "America/New_York")
    assert Settings(timezone="Europe/Amsterdam").timezone == "Europe/Amsterdam"
    no_memo_zone.setenv("MEMO_TIMEZONE", "Asia/Tokyo")
    assert Settings().timezone == "Asia/Tokyo"


def test_config_says_which_zone_is_in_force_and_why(no_memo_zone, capsys, tmp_path):
    no_memo_zone.setenv("TZ", "America/New_York")
    no_memo_zone.setenv("MEMO_DATABASE_URL", f"sqlite:///{tmp_path / 'm.sqlite'}")
    assert main(["config"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["timezone"], data["timezone_source"]) == ("America/New_York", "the host's (TZ)")
    no_memo_zone.setenv("MEMO_TIMEZONE", "Asia/Tokyo")
    assert main(["config"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["timezone"], data["timezone_source"]) == ("Asia/Tokyo", "MEMO_TIMEZONE")
