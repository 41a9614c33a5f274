"""The threat-model table is one table: README's "Limits" and docs/guard.md carry the same text,
and every test file it cites exists (so the table cannot quietly stop being true)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- threat-model:", "<!-- /threat-model -->"


def threat_model(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, f"{path.name}: one threat-model table"
    return text[text.index(START):text.index(END)]


def test_readme_and_the_guard_docs_carry_the_same_threat_model():
    assert threat_model(ROOT / "README.md") == threat_model(ROOT / "docs" / "guard.md")


def test_every_test_the_threat_model_cites_exists():
    table = threat_model(ROOT / "README.md")
    cited = re.findall(r"`((?:tests|tf)/[\w/.]+\.py|tests/guard/)(?:::(\w+))?`", table)
    assert len(cited) >= 8
    for path, name in cited:
        path = path.replace("tf/", "tests/faults/", 1)
        assert (ROOT / path).exists(), path
        if name:
            assert f"def {name}(" in (ROOT / path).read_text(), f"{path}::{name}"
