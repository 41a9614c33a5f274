"""Python's own parser, to an ``ast`` tree, safely from several threads.

CPython 3.11 keeps the AST constructor's recursion depth in per-interpreter state,
so two threads building trees at once can trip each other up: ``SystemError: AST
constructor recursion depth mismatch`` (python/cpython gh-106905; seen here when a
night's prepare-ahead threads resolved imports and guarded scripts side by side).
Every parse to ``ast`` in the runner goes through this one lock.
"""

from __future__ import annotations

import ast
import threading

__all__ = ["parse_ast"]

_LOCK = threading.Lock()


def parse_ast(source: str, filename: str = "<unknown>") -> ast.Module:
    """``compile(source, filename, "exec", PyCF_ONLY_AST)`` under the process-wide lock.

    Raises what ``compile`` raises (SyntaxError, ValueError for NUL bytes, RecursionError, ...).
    """
    with _LOCK:
        return compile(source, filename, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
