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

    Args:
        source: the Python text to parse.
        filename: the name syntax errors and the tree's code objects carry.

    Returns:
        The module's ``ast`` tree.

    Raises:
        SyntaxError: ``source`` is not Python (and whatever else ``compile`` raises: ValueError
            for NUL bytes, RecursionError, ...), let through.
    """
    with _LOCK:
        return compile(source, filename, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
