"""The library items a script needs, read from its import statements.

MEMO has no foreign keys for library items: a MAIN script names them in its
imports (``from sniplets import marc21``, ``from queries import full_text_search``,
``from queries.abccorp import mytask_xml as mainquery``) and the runner looks the
names up. Imports are read from the syntax tree, on any line and at any depth,
and followed through sniplets that import other library items. A name that does
not exist fails the task before anything runs.

The tree is the standard library's ``ast``: only import nodes and their line
numbers are needed here, and it parses a real MEMO script ×30 faster than libcst
with positions (the guard keeps libcst, whose concrete tree it reports from).
A night reads the same sniplets for many tasks: the imports of a body are cached.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from typing import Protocol

from guard.pyast import parse_ast
from memo.errors import DependencyError, TaskInvalid
from memo.models import Dependencies, Query, Script, TaskSpec


@dataclass(frozen=True)
class LibraryImport:
    """One library item an import names. ``candidates`` are query names tried in order."""

    kind: str  # "sniplet" or "query"
    candidates: tuple[str, ...]
    line: int

    @property
    def name(self) -> str:
        return self.candidates[0]


class LibraryLookup(Protocol):
    def sniplet(self, name: str) -> Script | None: ...

    def query(self, name: str) -> Query | None: ...


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


def _from_import(node: ast.ImportFrom, in_sniplet: bool, found: list, errors: list) -> None:
    module = node.module or ""
    parts = module.split(".") if module else []
    if node.level:
        if not in_sniplet or node.level > 1:
            return
        parts = ["sniplets"] + parts
    if not parts or parts[0] not in ("sniplets", "queries"):
        return
    names = [alias.name for alias in node.names]
    if names == ["*"]:
        errors.append(f"line {node.lineno}: 'from {module or '.'} import *' hides which items "
                      "the script needs; name them")
        return

    def add(kind: str, candidates: tuple[str, ...]) -> None:
        found.append(LibraryImport(kind, candidates, node.lineno))

    if parts[0] == "sniplets":
        if len(parts) >= 2:
            add("sniplet", (parts[1],))
        else:
            for name in names:
                add("sniplet", (name,))
    elif len(parts) >= 3:
        add("query", _query_candidates(parts[1:], None))
    elif len(parts) == 2:
        for name in names:
            add("query", _query_candidates(parts[1:], name))
    else:
        for name in names:
            add("query", (name,))


def _import(node: ast.Import, found: list, errors: list) -> None:
    for alias in node.names:
        parts = alias.name.split(".")
        if parts[0] not in ("sniplets", "queries"):
            continue
        if len(parts) == 1:
            errors.append(f"line {node.lineno}: 'import {parts[0]}' names no item; "
                          f"import the items themselves (from {parts[0]} import ...)")
        elif parts[0] == "sniplets":
            found.append(LibraryImport("sniplet", (parts[1],), node.lineno))
        else:
            found.append(LibraryImport("query", _query_candidates(parts[1:], None), node.lineno))


MAX_SCRIPT_BYTES = 256 * 1024
"""Largest script or sniplet accepted. MEMO keeps them in TEXT columns (64 KiB at most);
parsing costs seconds per 100 KB in the guard (libcst), so a bigger body is refused
before it is parsed rather than stalling the night."""


def read_library_imports(source: str, *, in_sniplet: bool = False) -> list[LibraryImport]:
    """The library items ``source`` imports, in source order.

    Raises ``TaskInvalid`` on a syntax error or an oversized body, ``DependencyError``
    on an import that names no item (``import sniplets``, ``from queries import *``).
    """
    if in_sniplet:  # the same few sniplets serve many tasks of a night
        return list(_sniplet_imports(source))
    return list(_library_imports(source, in_sniplet))


@functools.lru_cache(maxsize=256)
def _sniplet_imports(source: str) -> tuple[LibraryImport, ...]:
    return _library_imports(source, True)


def _library_imports(source: str, in_sniplet: bool) -> tuple[LibraryImport, ...]:
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_SCRIPT_BYTES:
        raise TaskInvalid(f"script of {size / 2**20:.1f} MiB is larger than the {MAX_SCRIPT_BYTES // 1024} KiB limit")
    try:
        module = parse_ast(source)
    except SyntaxError as exc:
        raise TaskInvalid(f"syntax error at {exc.lineno}:{exc.offset}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise TaskInvalid(f"cannot parse: {exc}") from None
    found: list[LibraryImport] = []
    errors: list[str] = []
    imports = [n for n in ast.walk(module) if isinstance(n, (ast.Import, ast.ImportFrom))]
    for node in sorted(imports, key=lambda n: (n.lineno, n.col_offset)):
        if isinstance(node, ast.ImportFrom):
            _from_import(node, in_sniplet, found, errors)
        else:
            _import(node, found, errors)
    if errors:
        raise DependencyError("; ".join(errors))
    return tuple(found)


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
    # A query with a NULL or empty body (MEMO Manager saves a task's query so until someone
    # writes SQL) becomes ``query = ""``, as the Java runner wrote it: the script decides.
    return deps
