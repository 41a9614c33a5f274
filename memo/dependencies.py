"""The library items a script needs, read from its import statements with libcst.

MEMO has no foreign keys for library items: a MAIN script names them in its
imports (``from sniplets import marc21``, ``from queries import full_text_search``,
``from queries.abccorp import mytask_xml as mainquery``) and the runner looks the
names up. Imports are read from the syntax tree, on any line and at any depth,
and followed through sniplets that import other library items. A name that does
not exist fails the task before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import libcst as cst

from memo.errors import DependencyError, TaskInvalid
from memo.models import Dependencies, Query, Script, TaskSpec


@dataclass(frozen=True)
class LibraryImport:
    """One library item an import names. ``candidates`` are query names tried in order."""

    kind: str  # "sniplet" or "query"
    candidates: tuple[str, ...]
    line: int
    code: str

    @property
    def name(self) -> str:
        return self.candidates[0]


class LibraryLookup(Protocol):
    def sniplet(self, name: str) -> Script | None: ...

    def query(self, name: str) -> Query | None: ...


def _dotted(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _query_candidates(parts: list[str], imported: str | None) -> tuple[str, ...]:
    """Query names a dotted path below ``queries`` can mean, most specific first.

    ``queries.x`` is the library query ``x``; ``queries.u.y`` is user ``u``'s query
    ``u:y`` — or, when imported from (``from queries.x import query``), library ``x``.
    """
    path = parts + ([imported] if imported else [])
    names = []
    if len(path) >= 2:
        names.append(f"{path[0]}:{path[1]}")
    if path:
        names.append(path[0])
    return tuple(dict.fromkeys(names))


class _ImportCollector(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (cst.metadata.PositionProvider,)

    def __init__(self, in_sniplet: bool):
        super().__init__()
        self.in_sniplet = in_sniplet
        self.found: list[LibraryImport] = []
        self.errors: list[str] = []

    def _line(self, node: cst.CSTNode) -> int:
        return self.get_metadata(cst.metadata.PositionProvider, node).start.line

    def _add(self, node: cst.CSTNode, kind: str, candidates: tuple[str, ...]) -> None:
        code = cst.Module([]).code_for_node(node).strip()
        self.found.append(LibraryImport(kind, candidates, self._line(node), code))

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            parts = _dotted(alias.name).split(".")
            if parts[0] not in ("sniplets", "queries"):
                continue
            if len(parts) == 1:
                self.errors.append(
                    f"line {self._line(node)}: 'import {parts[0]}' names no item; "
                    f"import the items themselves (from {parts[0]} import ...)"
                )
            elif parts[0] == "sniplets":
                self._add(node, "sniplet", (parts[1],))
            else:
                self._add(node, "query", _query_candidates(parts[1:], None))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = _dotted(node.module)
        parts = module.split(".") if module else []
        relative = len(node.relative)
        if relative:
            if not self.in_sniplet or relative > 1:
                return
            parts = ["sniplets"] + parts
        if not parts or parts[0] not in ("sniplets", "queries"):
            return
        if isinstance(node.names, cst.ImportStar):
            self.errors.append(
                f"line {self._line(node)}: 'from {module or '.'} import *' hides which items "
                "the script needs; name them"
            )
            return
        names = [alias.name.value for alias in node.names if isinstance(alias.name, cst.Name)]
        if parts[0] == "sniplets":
            if len(parts) >= 2:
                self._add(node, "sniplet", (parts[1],))
            else:
                for name in names:
                    self._add(node, "sniplet", (name,))
        else:
            if len(parts) >= 2:
                if len(parts) >= 3:
                    self._add(node, "query", _query_candidates(parts[1:], None))
                else:
                    for name in names:
                        self._add(node, "query", _query_candidates(parts[1:], name))
            else:
                for name in names:
                    self._add(node, "query", (name,))


MAX_SCRIPT_BYTES = 256 * 1024
"""Largest script or sniplet accepted. MEMO keeps them in TEXT columns (64 KiB at most);
parsing costs seconds per 100 KB (here and in the guard), so a bigger body is refused
before it is parsed rather than stalling the night."""


def read_library_imports(source: str, *, in_sniplet: bool = False) -> list[LibraryImport]:
    """The library items ``source`` imports. Raises ``TaskInvalid`` on a syntax error or an oversized body."""
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_SCRIPT_BYTES:
        raise TaskInvalid(f"script of {size / 2**20:.1f} MiB is larger than the {MAX_SCRIPT_BYTES // 1024} KiB limit")
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise TaskInvalid(f"syntax error at {exc.raw_line}:{exc.raw_column}: {exc.message}") from None
    collector = _ImportCollector(in_sniplet)
    cst.metadata.MetadataWrapper(module, unsafe_skip_copy=True).visit(collector)
    if collector.errors:
        raise DependencyError("; ".join(collector.errors))
    return collector.found


def own_query_path(spec: TaskSpec) -> str:
    """Where the task's own query goes below ``queries/``: ``abccorp/mytask_xml``."""
    query = spec.own_query
    assert query is not None
    if ":" in query.name:
        user, module = query.name.split(":", 1)
    else:
        user, module = spec.task.username, spec.task.file_name.replace(".", "_", 1).lower()
    return f"{user}/{module}"


def _query_path(name: str) -> str:
    return name.replace(":", "/", 1)


def resolve_dependencies(spec: TaskSpec, library: LibraryLookup) -> Dependencies:
    """Every library item the MAIN script reaches, or ``DependencyError`` naming what is missing."""
    assert spec.script is not None and spec.script.body is not None
    deps = Dependencies()
    if spec.own_query is not None:
        deps.queries[own_query_path(spec)] = spec.own_query
    missing: list[str] = []
    pending: list[tuple[str, str, bool]] = [(spec.script.name, spec.script.body, False)]
    seen_sniplets: set[str] = set()
    while pending:
        owner, source, is_sniplet = pending.pop()
        try:
            imports = read_library_imports(source, in_sniplet=is_sniplet)
        except TaskInvalid as exc:
            raise TaskInvalid(f"{owner}: {exc.message}") from None
        except DependencyError as exc:
            raise DependencyError(f"{owner}: {exc.message}") from None
        for item in imports:
            if item.kind == "sniplet":
                if item.name in seen_sniplets:
                    continue
                seen_sniplets.add(item.name)
                sniplet = library.sniplet(item.name)
                if sniplet is None:
                    missing.append(f"sniplet '{item.name}' (imported by {owner}, line {item.line})")
                    continue
                if sniplet.body is None or not sniplet.body.strip():
                    raise DependencyError(f"sniplet '{item.name}' has no body")
                deps.sniplets[item.name] = sniplet
                pending.append((f"sniplet {item.name}", sniplet.body, True))
            else:
                if any(_query_path(c) in deps.queries for c in item.candidates):
                    continue
                for candidate in item.candidates:
                    query = library.query(candidate)
                    if query is not None:
                        deps.queries[_query_path(candidate)] = query
                        break
                else:
                    missing.append(f"query '{item.name}' (imported by {owner}, line {item.line})")
    if missing:
        raise DependencyError("Library items not found: " + ", ".join(missing))
    for path, query in deps.queries.items():
        if query.body is None or not query.body.strip():
            raise DependencyError(f"query '{query.name}' has no body")
    return deps
