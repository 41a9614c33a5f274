"""The layers' import directions, read from the source (every import, lazy ones included):

    guard/ ← memo/ ← flows/ (+ blocks/) ← api/ ← cli/

guard/ imports nothing of ours; memo/ imports neither Prefect nor flows/, blocks/, api/ or
cli/; flows/ and blocks/ never import api/; nothing but cli/ (the shells: the commands and
the demo, the one place that wires everything) imports api/, and nothing imports cli/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"guard", "memo", "flows", "blocks", "api", "cli"}

FORBIDDEN = {
    "guard": OURS - {"guard"} | {"prefect", "prefect_docker"},
    "memo": {"flows", "blocks", "api", "cli", "prefect", "prefect_docker"},
    "flows": {"api", "cli"},
    "blocks": {"api", "flows", "cli"},
    "api": {"cli"},
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
    return sorted((ROOT / package).rglob("*.py"))


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


def test_the_shells_live_in_cli_and_nothing_of_the_core_runs_a_shell():
    """The CLI and the demo are cli/, not memo/; the entry point names cli.main."""
    assert not (ROOT / "memo" / "cli.py").exists() and not (ROOT / "memo" / "demo").exists()
    assert 'memo-taskrunner = "cli.main:main"' in (ROOT / "pyproject.toml").read_text()
    for path in modules("memo"):
        tops = {top for top, _ in imported_tops(path, "memo")}
        assert not tops & {"subprocess", "argparse"} or path.name in SHELL_TOOLS, path


SHELL_TOOLS = {"process.py"}
"""memo/ modules that start a child process for a run (the process sandbox)."""
