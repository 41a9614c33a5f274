"""``check_source``: parse a script, run the rules, report with positions."""

from __future__ import annotations

import ast
import contextlib
import gc
import queue
import threading
import warnings
from typing import Iterable

import libcst as cst
from libcst._nodes.internal import CodegenState

from .policy import Policy, default_policy
from .pyast import parse_ast
from .report import Finding, GuardReport
from .visitor import GuardVisitor, Pending, walk

__all__ = ["check_source", "check_sources"]

_CODE_MAX = 80
_NULL = contextlib.nullcontext()


PARSER_STACKS = (1 << 30, 512 << 20)
"""Stack sizes (bytes, reserved, not used) tried for the thread libcst parses on. Its native
parser recurses once per dotted-name part and per ``or``/``and`` operand with no limit of its
own: on a thread's usual 8 MiB (64 MiB for 260 KB), ``import a.a.….b`` overflowed the stack
and the whole process died of SIGSEGV. The largest script (256 KiB) needs less than 256 MiB.
Where neither can be had, scripts are refused, never parsed on a shallow stack."""
_parser_lock = threading.Lock()
_parser_calls: "queue.Queue | None" = None


def _parser_queue() -> "queue.Queue":
    """The queue of the process's one parser thread, started on first use with a deep stack.
    One thread for good: ``threading.stack_size`` is process-wide, so it is changed once (a
    thread another part of the process starts at that moment may get the deep stack too:
    reserved address space, not memory)."""
    global _parser_calls
    with _parser_lock:
        if _parser_calls is not None:
            return _parser_calls
        calls: queue.Queue = queue.Queue()
        for size in PARSER_STACKS:
            try:
                previous = threading.stack_size(size)
            except (ValueError, RuntimeError):
                continue
            try:
                threading.Thread(target=_parse_forever, args=(calls,), name="guard-parse", daemon=True).start()
            except RuntimeError:  # cannot reserve that much here: try less
                continue
            finally:
                threading.stack_size(previous)
            _parser_calls = calls
            return calls
        raise RuntimeError("no thread with a stack deep enough for libcst's parser could be made "
                           f"({' or '.join(f'{s >> 20} MiB' for s in PARSER_STACKS)}): scripts are not parsed")


def _parse_forever(calls: "queue.Queue") -> None:
    while True:
        source, done, result = calls.get()
        try:
            result.append((True, cst.parse_module(source)))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result.append((False, exc))
        done.set()


def _parse_module(source: str) -> cst.Module:
    """``libcst.parse_module`` on the parser thread (a stack deep enough for any script we
    accept); raises ``RuntimeError`` where no such thread can be made (the script is refused)."""
    done, result = threading.Event(), []
    _parser_queue().put((source, done, result))
    done.wait()
    ok, value = result[0]
    if not ok:
        raise value
    return value


def _position(source: str, index: int) -> tuple[int, int]:
    line = source.count("\n", 0, index) + 1
    return line, index - (source.rfind("\n", 0, index) + 1)


def _python_syntax_error(source: str, name: str) -> tuple[str | None, ast.AST | None]:
    """CPython's own verdict on the text: ``("line:col: message", None)`` or
    ``(None, tree)``.

    The guard refuses what Python would refuse and reports Python's message;
    ``col`` is 0-based (``SyntaxError.offset`` is 1-based).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes etc. are not our business
            tree = parse_ast(source, name)
    except SyntaxError as exc:
        line = exc.lineno or 1
        col = max((exc.offset or 1) - 1, 0)
        return f"{line}:{col}: {exc.msg}", None
    except ValueError as exc:  # "source code string cannot contain null bytes"
        index = source.find("\0")
        line, col = _position(source, index) if index >= 0 else (1, 0)
        return f"{line}:{col}: {exc}", None
    except UnicodeError as exc:  # lone surrogates cannot be encoded
        start = getattr(exc, "start", 0)
        line, col = _position(source, start)
        return f"{line}:{col}: character {source[start:start + 1]!r} cannot be encoded as UTF-8", None
    except (RecursionError, MemoryError):
        return "1:0: too deeply nested for the parser", None
    return None, tree


def _ast_identifiers(tree: ast.AST) -> dict[str, tuple[int, int]]:
    """Every identifier CPython's parser sees (already NFKC-normalised), with
    the position of its first node (line, UTF-8 byte column)."""
    out: dict[str, tuple[int, int]] = {}
    name_t, attr_t, kw_t, arg_t, alias_t = ast.Name, ast.Attribute, ast.keyword, ast.arg, ast.alias
    named = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for node in ast.walk(tree):
        t = type(node)
        if t is name_t:
            found = (node.id,)
        elif t is attr_t:
            found = (node.attr,)
        elif t is kw_t:
            found = (node.arg,) if node.arg else ()
        elif t is arg_t:
            found = (node.arg,)
        elif t is alias_t:
            if node.name == "*":
                continue
            found = tuple(node.name.split(".")) + ((node.asname,) if node.asname else ())
        elif t in named:
            found = (node.name,)
        elif t is ast.ImportFrom:
            found = tuple(node.module.split(".")) if node.module else ()
        elif t is ast.Global or t is ast.Nonlocal:
            found = tuple(node.names)
        elif t is ast.MatchAs or t is ast.MatchStar:
            found = (node.name,) if node.name else ()
        elif t is ast.MatchMapping:
            found = (node.rest,) if node.rest else ()
        elif t is ast.MatchClass:
            found = tuple(node.kwd_attrs)
        else:
            continue
        for ident in found:
            if ident not in out:
                out[ident] = (getattr(node, "lineno", 1), getattr(node, "col_offset", 0))
    return out


def _parser_disagreement(source: str, tree: ast.AST, seen: set[str]) -> tuple[Finding, ...]:
    """Findings for identifiers CPython reads that libcst's tree lacks.

    The rules run on libcst's tree, and the script runs on CPython's; if the
    two parsers ever read the same text differently (a string for one, code
    for the other), an identifier would be hidden from the rules.  Such a
    script is refused.
    """
    missing = {i: pos for i, pos in _ast_identifiers(tree).items() if i not in seen}
    if not missing:
        return ()
    lines = source.splitlines()
    out = []
    for ident, (line, byte_col) in sorted(missing.items(), key=lambda kv: kv[1]):
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        col = len(text.encode("utf-8")[:byte_col].decode("utf-8", "replace"))
        out.append(Finding("parser-disagreement", line, col, _short(text), f"{ident} (parsers disagree)",
                           "CPython reads an identifier here that the guard's parser (libcst) does not; refused"))
    return tuple(out)


@contextlib.contextmanager
def _gc_paused():
    """libcst builds hundreds of thousands of small objects that all stay
    alive while the script is checked; the cyclic collector's passes over
    them are wasted work (a fifth of the parse, more during the rules).
    Pause it for one check, and only if it was on; the trees hold no cycles
    and are freed by reference counting when the check returns."""
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
        except Exception:  # noqa: BLE001  # pragma: no cover - the finding stands, shown by its label
            code = p.label
        out.append(Finding(p.rule, line, col, code, p.label, p.reason))
    out.sort(key=lambda f: (f.line, f.column))
    return tuple(out)


def check_source(source: str, name: str = "<script>", policy: Policy | None = None) -> GuardReport:
    """Check one script and return its report.  Never raises on a ``str``.

    A text that Python cannot parse is refused with ``syntax_error`` set to
    ``"line:col: message"``.  Anything unexpected inside the guard refuses
    the script too (rule ``internal-error``): the guard fails closed.

    Args:
        source: the script's text.
        name: the script's name in the report and in the refusal message (``abccorp:mytask_xml``).
        policy: the allow-list; ``None``: ``default_policy()``.

    Returns:
        The script's report: ``ok``, or its findings (sorted by position) or syntax error.

    Raises:
        KeyboardInterrupt: let through, as SystemExit and GeneratorExit are; nothing else is.
    """
    try:
        with _gc_paused():
            return _check(source, name, policy)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - fail closed, never crash the runner
        return GuardReport(
            name,
            (Finding("internal-error", 1, 0, "", "unanalysable script",
                     f"the guard could not analyse this script ({type(exc).__name__}: {exc}); refused"),),
        )


def _check(source: str, name: str, policy: Policy | None) -> GuardReport:
    """The check itself; ``check_source`` wraps it to fail closed."""
    if policy is None:
        policy = default_policy()
    if source.startswith("\ufeff"):  # a UTF-8 BOM, which Python skips
        source = source[1:]
    error, tree = _python_syntax_error(source, name)
    if error is not None:
        return GuardReport(name, (), error)
    if not policy.enforce:  # tests of the container alone: nothing is refused
        return GuardReport(name)
    try:
        module = _parse_module(source)
    except cst.ParserSyntaxError as exc:
        return GuardReport(
            name, (), f"{exc.raw_line}:{exc.raw_column}: the guard's parser (libcst) cannot read this: {exc.message}"
        )
    except Exception as exc:  # noqa: BLE001 - e.g. a native parser limit
        return GuardReport(name, (), f"1:0: the guard's parser (libcst) cannot read this: {type(exc).__name__}: {exc}")
    visitor = GuardVisitor(policy)
    cookie = visitor.rule_encoding_cookie(source)
    walk(module, visitor)
    pending = visitor.finish()
    extra = _parser_disagreement(source, tree, visitor.identifiers)
    if cookie is not None:
        line, col, label, reason = cookie
        text = source.splitlines()[line - 1] if source.splitlines() else ""
        extra += (Finding("encoding", line, col, _short(text), label, reason),)
    if not pending and not extra:
        return GuardReport(name)
    findings = _findings(module, pending) if pending else ()
    return GuardReport(name, tuple(sorted(findings + extra, key=lambda f: (f.line, f.column))))


def check_sources(scripts: Iterable[tuple[str, str]], policy: Policy | None = None) -> list[GuardReport]:
    """Check several ``(name, source)`` pairs (a MAIN script and its sniplets)."""
    policy = policy or default_policy()
    return [check_source(source, name, policy) for name, source in scripts]
