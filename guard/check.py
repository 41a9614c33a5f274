"""``check_source``: parse a script, run the rules, report with positions."""

from __future__ import annotations

import ast
import contextlib
import gc
import warnings
from typing import Iterable

import libcst as cst
from libcst._nodes.internal import CodegenState

from .policy import Policy, default_policy
from .report import Finding, GuardReport
from .visitor import GuardVisitor, Pending, walk

__all__ = ["check_source", "check_sources"]

_CODE_MAX = 80
_NULL = contextlib.nullcontext()


def _position(source: str, index: int) -> tuple[int, int]:
    line = source.count("\n", 0, index) + 1
    return line, index - (source.rfind("\n", 0, index) + 1)


def _python_syntax_error(source: str, name: str) -> str | None:
    """CPython's own verdict on the text, as ``"line:col: message"``.

    The guard refuses what Python would refuse and reports Python's message;
    ``col`` is 0-based (``SyntaxError.offset`` is 1-based).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes etc. are not our business
            compile(source, name, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        line = exc.lineno or 1
        col = max((exc.offset or 1) - 1, 0)
        return f"{line}:{col}: {exc.msg}"
    except ValueError as exc:  # "source code string cannot contain null bytes"
        index = source.find("\0")
        line, col = _position(source, index) if index >= 0 else (1, 0)
        return f"{line}:{col}: {exc}"
    except UnicodeError as exc:  # lone surrogates cannot be encoded
        start = getattr(exc, "start", 0)
        line, col = _position(source, start)
        return f"{line}:{col}: character {source[start:start + 1]!r} cannot be encoded as UTF-8"
    except (RecursionError, MemoryError):
        return "1:0: too deeply nested for the parser"
    return None


@contextlib.contextmanager
def _gc_paused():
    """libcst builds hundreds of thousands of small objects that all stay
    alive; the cyclic collector's passes over them are wasted work (about a
    fifth of the parse).  Pause it for the parse only, and only if it was on."""
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Done(Exception):
    """Raised by the locator once every wanted node has been placed."""


class _Locator(CodegenState):
    """A code generator that only counts lines and columns, records the start
    of the wanted nodes and stops as soon as all are found.  (libcst's
    PositionProvider records every node of the module and is slower.)"""

    def __init__(self, module: cst.Module, wanted: set[int]) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.wanted = wanted
        self.remaining = set(wanted)
        self.found: dict[int, tuple[int, int]] = {}
        self.line = 1
        self.column = 0

    def add_token(self, value: str) -> None:
        if "\n" in value or "\r" in value:
            lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            self.line += len(lines) - 1
            self.column = len(lines[-1])
        else:
            self.column += len(value)

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.add_token(token)

    def before_codegen(self, node: cst.CSTNode) -> None:
        if id(node) in self.wanted:
            self.found[id(node)] = (self.line, self.column)

    def record_syntactic_position(self, node, *, start_node=None, end_node=None):  # type: ignore[override]
        if id(node) in self.wanted:
            self.found[id(node)] = (self.line, self.column)
        return _NULL

    def after_codegen(self, node: cst.CSTNode) -> None:
        if id(node) in self.remaining:
            self.remaining.discard(id(node))
            if not self.remaining:
                raise _Done


def _locate(module: cst.Module, nodes: Iterable[cst.CSTNode]) -> dict[int, tuple[int, int]]:
    locator = _Locator(module, {id(n) for n in nodes})
    try:
        module._codegen(locator)
    except _Done:
        pass
    return locator.found


def _short(code: str) -> str:
    code = " ".join(code.split())
    return code if len(code) <= _CODE_MAX else code[: _CODE_MAX - 1] + "…"


def _findings(module: cst.Module, pending: list[Pending]) -> tuple[Finding, ...]:
    where = _locate(module, [p.at for p in pending])
    out = []
    for p in pending:
        line, col = where.get(id(p.at), (1, 0))
        try:
            code = _short(module.code_for_node(p.show))
        except Exception:  # pragma: no cover - codegen of a parsed node
            code = p.label
        out.append(Finding(p.rule, line, col, code, p.label, p.reason))
    out.sort(key=lambda f: (f.line, f.column))
    return tuple(out)


def check_source(source: str, name: str = "<script>", policy: Policy | None = None) -> GuardReport:
    """Check one script and return its report.  Never raises on a ``str``.

    A text that Python cannot parse is refused with ``syntax_error`` set to
    ``"line:col: message"``.  Anything unexpected inside the guard refuses
    the script too (rule ``internal-error``): the guard fails closed.
    """
    try:
        if policy is None:
            policy = default_policy()
        if source.startswith("\ufeff"):  # a UTF-8 BOM, which Python skips
            source = source[1:]
        error = _python_syntax_error(source, name)
        if error is not None:
            return GuardReport(name, (), error)
        try:
            with _gc_paused():
                module = cst.parse_module(source)
        except cst.ParserSyntaxError as exc:
            return GuardReport(
                name, (), f"{exc.raw_line}:{exc.raw_column}: the guard's parser (libcst) cannot read this: {exc.message}"
            )
        except Exception as exc:  # noqa: BLE001 - e.g. a native parser limit
            return GuardReport(name, (), f"1:0: the guard's parser (libcst) cannot read this: {type(exc).__name__}: {exc}")
        visitor = GuardVisitor(policy)
        walk(module, visitor)
        pending = visitor.finish()
        if not pending:
            return GuardReport(name)
        return GuardReport(name, _findings(module, pending))
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - fail closed, never crash the runner
        return GuardReport(
            name,
            (Finding("internal-error", 1, 0, "", "unanalysable script",
                     f"the guard could not analyse this script ({type(exc).__name__}: {exc}); refused"),),
        )


def check_sources(scripts: Iterable[tuple[str, str]], policy: Policy | None = None) -> list[GuardReport]:
    """Check several ``(name, source)`` pairs (a MAIN script and its sniplets)."""
    policy = policy or default_policy()
    return [check_source(source, name, policy) for name, source in scripts]
