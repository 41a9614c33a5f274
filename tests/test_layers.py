"""The layers' import directions, read from the source (every import, lazy ones included):

    guard/ ← memo/ ← flows/ (+ blocks/) ← api/ ← the shells (memo/cli.py, memo/demo/)

guard/ imports nothing of ours; memo/ imports neither Prefect nor flows/, blocks/ or api/;
flows/ and blocks/ never import api/. The shells are the one place that wires everything
(issue 14 moves them to a top-level cli/ package; until then they are named here).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"guard", "memo", "flows", "blocks", "api"}
SHELLS = {"memo/cli.py", "memo/demo/run.py", "memo/demo/__init__.py", "memo/demo/samples.py"}

FORBIDDEN = {
    "guard": OURS - {"guard"} | {"prefect", "prefect_docker"},
    "memo": {"flows", "blocks", "api", "prefect", "prefect_docker"},
    "flows": {"api"},
    "blocks": {"api", "flows"},
}


def imported_tops(path: Path, package: str) -> set[tuple[str, int]]:
    """(top-level package, line) of every import in a module of ``package``, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            top = package if node.level else (node.module or "").split(".")[0]
            found.add((top, node.lineno))
    return found


def modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py")
                  if p.relative_to(ROOT).as_posix() not in SHELLS)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_goes_against_the_layers(package):
    crossings = [
        f"{path.relative_to(ROOT)}:{line} imports {top}"
        for path in modules(package)
        for top, line in sorted(imported_tops(path, package))
        if top in FORBIDDEN[package]
    ]
    assert crossings == []


def test_the_check_sees_lazy_and_relative_imports(tmp_path):
    """The rule can fail: a function-level import of Prefect, or a relative one, is seen."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from prefect import flow\n    from . import runner\n    return flow\n")
    assert imported_tops(probe, "memo") == {("prefect", 2), ("memo", 3)}
    assert all(top not in FORBIDDEN["memo"] for path in modules("memo") for top, _ in imported_tops(path, "memo"))
