"""The guard's rules: one visitor over libcst's tree, one small method per rule,
and a default that denies.

As in RestrictedPython's transformer, every syntax node type the visitor
handles has a handler (``visit_<Node>``; ``_TRIVIA`` are the tokens and
whitespace that carry no code); any other node type is refused
(``unsupported-syntax``), so syntax a newer Python or libcst adds is refused
until someone reviews it.

The walk records what the script reads and binds, scope by scope (module,
class, function, comprehension, as Python resolves names); :meth:`finish`
then resolves every read and applies the rules.  So a parameter named
``open`` is the script's own value, ``visit.os`` on a row object is just an
attribute, and ``import json as os`` makes ``os.dumps`` json's — while
``o = open`` still reads the builtin, and a module-level binding only
replaces a builtin for the reads it certainly precedes.

String literals, comments and docstrings never trigger a rule, except where
Python reads a string as code: format templates (whose fields read
attributes) and annotation strings (which typing evaluates).

``walk`` is a fast, iterative, read-only traversal: handlers return the
children to visit (or ``Step`` actions that enter and leave scopes).
"""

from __future__ import annotations

import bisect
import builtins as _builtins_module
import codecs
import dataclasses
import re
from typing import Any, Callable, Iterator, NamedTuple

import _string  # the format-string parser str.format itself uses
import libcst as cst

from .policy import (
    ALLOWED_DUNDER_ATTRIBUTES, FORBIDDEN_BUILTINS, FRAME_ATTRIBUTES, IN_MEMORY_STREAMS, NAMEDTUPLE_MEMBERS,
    NEVER_MEMBERS, NEVER_MODULES, SELF_MATCHING_CLASSES, STRING_NAMED_FUNCTIONS, SUPER_DUNDER_METHODS, Policy,
    normalize,
)

__all__ = ["GuardVisitor", "Pending", "walk"]

_Name, _Attribute, _Call = cst.Name, cst.Attribute, cst.Call
_STRINGS = (cst.SimpleString, cst.ConcatenatedString)
_FORMAT_METHODS = frozenset({"format", "format_map", "vformat"})
_BUILTIN_NAMES = frozenset(dir(_builtins_module)) | {"exit", "quit", "help", "copyright", "credits", "license"}
_NOT_ALLOWED = "not on the guard's allow-list: what nobody reviewed is refused"


class Pending(NamedTuple):
    """A finding before positions are known: ``at`` is the node whose start is
    reported, ``show`` the node whose code is quoted."""

    rule: str
    at: cst.CSTNode
    show: cst.CSTNode
    label: str
    reason: str


class Step:
    """An action in the walk (enter or leave a scope, bind targets); its result,
    if any, is more items to walk."""

    __slots__ = ("fn", "args")

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args


class Binding(NamedTuple):
    """One way a scope binds a name.  ``kind``: ``module`` (data: dotted name),
    ``member`` ((module, dotted member)), ``value`` (the assigned expression or
    None), ``param``, ``def``, ``class`` (the node), ``implicit``.  ``scope``
    evaluates ``data``.  ``block``/``index``: the statement block and the
    statement in it; ``definite``: the binding certainly runs before the
    block's later statements (``index`` -1: before all of them, as a
    ``for`` target for its body)."""

    kind: str
    data: Any
    scope: "Scope"
    block: int
    index: int
    definite: bool
    path: tuple[tuple[int, int], ...]


class Scope:
    """A namespace as Python's compiler sees it."""

    __slots__ = ("kind", "parent", "node", "block", "bindings", "declared_global", "declared_nonlocal",
                 "self_param", "class_scope")

    def __init__(self, kind: str, parent: "Scope | None", node: cst.CSTNode | None = None) -> None:
        self.kind, self.parent, self.node = kind, parent, node
        self.block = 0  # the id of the body block of a module or class scope
        self.bindings: dict[str, list[Binding]] = {}
        self.declared_global: set[str] = set()
        self.declared_nonlocal: set[str] = set()
        self.self_param: str | None = None  # the first parameter of a method
        self.class_scope: Scope | None = None  # the class of that method


class _BindingTable:
    """The bindings of one name in one scope, indexed by block for ``_reaching``."""

    def __init__(self, bindings: list[Binding]) -> None:
        self.bindings = bindings
        self.definite: dict[int, list[int]] = {}
        entries: dict[int, list[tuple[int, int]]] = {}
        for order, b in enumerate(bindings):
            if b.definite:
                self.definite.setdefault(b.block, []).append(b.index)
            for block, index in b.path:
                entries.setdefault(block, []).append((index, order))
        for indices in self.definite.values():
            indices.sort()
        self.entries = {block: sorted(items) for block, items in entries.items()}

    def select(self, cut: dict[int, int], upper: tuple[int, int] | None) -> list[Binding]:
        """The bindings not killed by ``cut`` ({block: index of the last
        certain binding before the read}) and not after ``upper``."""
        blocks = set(cut) | ({upper[0]} if upper is not None else set())
        if not blocks:
            return self.bindings
        if len(blocks) == 1:
            (block,) = blocks
            items = self.entries.get(block, ())
            if len(items) == len(self.bindings):  # every binding is in that block: a slice
                low = cut.get(block, -2)
                high = upper[1] if upper is not None else None
                first = bisect.bisect_left(items, (low, -1))
                last = len(items) if high is None else bisect.bisect_right(items, (high, len(items)))
                return [self.bindings[order] for _index, order in sorted(items[first:last], key=lambda t: t[1])]
        return [b for b in self.bindings if not self._dropped(b, cut, upper)]

    @staticmethod
    def _dropped(b: Binding, cut: dict[int, int], upper: tuple[int, int] | None) -> bool:
        for block, index in b.path:
            if index < cut.get(block, -2):
                return True
            if upper is not None and block == upper[0] and index > upper[1]:
                return True
        return False


class Use(NamedTuple):
    """A read of a name: the Name node, its normalised text, the scope it is
    read in, where it is (the ``(block, statement)`` pairs from the module
    down), and the annotation string it comes from (``anchor``), if any."""

    node: cst.Name
    name: str
    scope: Scope
    path: tuple[tuple[int, int], ...]
    anchor: cst.CSTNode | None


class AttributeUse(NamedTuple):
    """An attribute read or written (``store``), or named by ``getattr``."""

    node: cst.CSTNode
    at: cst.CSTNode
    name: str
    receiver: cst.CSTNode | None
    scope: Scope
    path: tuple[tuple[int, int], ...]
    anchor: cst.CSTNode | None
    store: bool


class _Arguments:
    """A call's arguments by position and keyword (literal ``**{...}`` keys included)."""

    def __init__(self, call: cst.Call) -> None:
        self.positional = [a for a in call.args if a.keyword is None and not a.star]
        self.keywords: dict[str, cst.Arg] = {normalize(a.keyword.value): a for a in call.args if a.keyword is not None}
        self.unpacked = any(a.star == "*" for a in call.args)  # positions the guard cannot see
        self.hidden_keywords = False  # **mapping: keywords the guard cannot see
        for a in call.args:
            if a.star == "**" and type(a.value) is cst.Dict:  # **{"option_files": ...}
                for element in a.value.elements:
                    key = _literal_str(getattr(element, "key", None))
                    if key is not None:
                        self.keywords[key] = a
                    else:
                        self.hidden_keywords = True
            elif a.star == "**":
                self.hidden_keywords = True

    def get(self, where: tuple[int | None, str] | None) -> cst.Arg | None:
        """The argument at ``(position, keyword)``, if given."""
        if where is None:
            return None
        position, keyword = where
        if keyword in self.keywords:
            return self.keywords[keyword]
        return self.positional[position] if position is not None and position < len(self.positional) else None


class Chain(NamedTuple):
    """``root.a.b.c``: the attribute names after the root and the outermost node."""

    parts: tuple[str, ...]
    outer: cst.Attribute


_COOKIE = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII)
_BLANK_OR_COMMENT = re.compile(r"^[ \t\f]*(?:#.*)?$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _is_utf8(encoding: str) -> bool:
    """Whether CPython's tokenizer reads a cookie's encoding as UTF-8 (its
    ``get_normal_name``, then the codec registry)."""
    normal = encoding[:12].lower().replace("_", "-")
    if normal == "utf-8" or normal.startswith("utf-8-"):
        return True
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _dotted(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` of a Name/Attribute chain (normalised), else None."""
    parts = []
    while type(node) is _Attribute:
        parts.append(normalize(node.attr.value))
        node = node.value
    if type(node) is not _Name:
        return None
    parts.append(normalize(node.value))
    return ".".join(reversed(parts))


def _literal_str(node: cst.CSTNode | None) -> str | None:
    """The value of a plain (non-f, non-bytes) string literal, else None."""
    if type(node) in _STRINGS:
        try:
            value = node.evaluated_value
        except (SyntaxError, ValueError):  # pragma: no cover - Python's parser validated the literal
            return None
        return value if isinstance(value, str) else None
    return None


def _template_fields(template: str, depth: int = 0) -> Iterator[tuple[bool, Any]]:
    """The attribute (``True``) and item (``False``) keys a format template
    reads: ``{0.__class__}``, ``{0[_x]}``, also in nested format specs."""
    for _literal, field_name, spec, _conversion in _string.formatter_parser(template):
        if field_name:
            _first, rest = _string.formatter_field_name_split(field_name)
            yield from rest
        if spec and depth < 2:
            yield from _template_fields(spec, depth + 1)


def _private_template_field(template: str) -> str | None:
    """The first ``_`` or frame attribute (or ``_`` item) a template reads, or None."""
    if "{" not in template:
        return None
    try:
        for is_attribute, key in _template_fields(template):
            if isinstance(key, str) and (key.startswith("_") or (is_attribute and normalize(key) in FRAME_ATTRIBUTES)):
                return ("." if is_attribute else "[") + key + ("" if is_attribute else "]")
    except ValueError:  # str.format would raise on this template
        return None
    return None


class GuardVisitor:
    """Collects the illegal instructions of one script.

    ``visit_*`` methods record the tree (and return the children to walk);
    ``rule_*`` methods are the rules, each with its reason as docstring; call
    :meth:`finish` after the walk for the findings.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.pending: list[Pending] = []
        self.identifiers: set[str] = set()  # every identifier in the tree, for the parser cross-check
        self.module_scope = self.scope = Scope("module", None)
        for name in ("__name__", "__doc__"):
            self.module_scope.bindings[name] = [Binding("implicit", None, self.module_scope, 0, -1, True, ())]
        self.uses: list[Use] = []
        self.attributes: list[AttributeUse] = []
        self.class_patterns: list[tuple[cst.MatchClass, Scope]] = []
        self.star_modules: list[str] = []
        self.own_private: set[str] = set()  # _names the script's classes define
        self.deleted_globals: set[str] = set()
        self.anchor: cst.CSTNode | None = None
        self._path: tuple[tuple[int, int], ...] = ()  # (block, statement) pairs down to the current one
        self._simple = False  # whether the current statement is a simple one (its bindings certainly run)
        self._statement: cst.CSTNode | None = None
        self._chain_of: dict[int, Chain] = {}
        self._call_of: dict[int, cst.Call] = {}
        self._inner: set[int] = set()
        self._stores: set[int] = set()
        self._concatenated: set[int] = set()
        self._nonlocal_bindings: list[tuple[str, Scope, Binding]] = []
        self._eligible: dict[int, bool] = {}
        self._reaching_cache: dict[tuple[Any, ...], list[Binding]] = {}
        self._binding_tables: dict[tuple[int, str], _BindingTable] = {}
        self._origins_cache: dict[int, list[tuple[str, str, tuple[str, ...]]]] = {}
        self._all_class_scopes: list[Scope] = []
        self._class_scopes: dict[int, Scope] = {}

    # ------------------------------------------------------------------ output
    def _add(self, rule: str, at: cst.CSTNode, label: str, reason: str, show: cst.CSTNode | None = None,
             anchor: cst.CSTNode | None = None) -> None:
        if anchor is not None:  # a finding inside an annotation string: report the string
            at, show, label = anchor, anchor, label + " in annotation"
            reason += " (annotation strings are evaluated as code)"
        self.pending.append(Pending(rule, at, show if show is not None else at, label, reason))

    def _label(self, use: Use, chain: Chain | None) -> tuple[str, cst.CSTNode]:
        """What a finding on a name shows (``os.system()``), and the code to quote."""
        text, show = use.name, use.node
        if chain is not None:
            text, show = use.name + "." + ".".join(chain.parts), chain.outer
        call = self._call_of.get(id(show))
        if call is not None:
            text, show = text + "()", call
        return text, show

    # ------------------------------------------------------------ scope helpers
    def _bind(self, name: str, kind: str, data: Any = None, scope: Scope | None = None,
              definite: bool | None = None, region: int | None = None) -> None:
        """Record a binding; ``region``: the body a ``for``/``with``/``except``
        target is bound for."""
        scope = scope or self.scope
        path = self._path
        if region is not None:
            path, definite = path + ((region, -1),), True
        elif definite is None:
            definite = self._simple
        block, index = path[-1] if path else (0, 0)
        binding = Binding(kind, data, self.scope, block, index, definite, path)
        if name in scope.declared_global:
            scope = self.module_scope
            binding = binding._replace(definite=False)
        if name == "__builtins__" and scope is self.module_scope:
            self.rule_builtins_binding()
        elif name in scope.declared_nonlocal:
            self._nonlocal_bindings.append((name, scope, binding))
            return
        scope.bindings.setdefault(name, []).append(binding)
        if scope.kind == "class" and name.startswith("_") and not _is_dunder(name):
            self.own_private.add(name)

    def _lookup(self, name: str, scope: Scope) -> Scope | None:
        """The scope whose binding a read of ``name`` in ``scope`` finds (None:
        the builtins), as Python resolves it; class scopes do not enclose."""
        module = self.module_scope
        if name in scope.declared_global:
            return module if name in module.bindings else None
        if name in scope.bindings and name not in scope.declared_nonlocal:
            return scope
        s = scope.parent
        while s is not None:
            if s.kind == "class":
                s = s.parent
                continue
            if s is module or name in s.declared_global:
                return module if name in module.bindings else None
            if name in s.bindings and name not in s.declared_nonlocal:
                return s
            s = s.parent
        return None

    def _shadowed(self, found: Scope, name: str, path: tuple[tuple[int, int], ...]) -> bool:
        """Whether a module- or class-level binding certainly replaces the
        builtin ``name`` for a read at ``path``: a statement that certainly
        binds it comes earlier in a block the read is in (or the read is in
        the body of a ``for``/``with``/``except`` that binds it), and nothing
        deletes the name."""
        bindings = found.bindings[name]
        if any(b.kind == "implicit" for b in bindings):
            return True
        if name in self.deleted_globals:
            return False
        for b in bindings:
            if b.definite and any(block == b.block and index > b.index for block, index in path):
                return True
        return False

    def _reaching(self, found: Scope, name: str, scope: Scope, path: tuple[tuple[int, int], ...]) -> list[Binding]:
        """The bindings of ``name`` in ``found`` that a read in ``scope`` at
        ``path`` may see.  A binding certainly followed, in a block the read
        is in, by another that certainly runs before the read is replaced by
        it (``import datetime`` ... ``from datetime import datetime`` ...
        ``datetime.now()``); and a read the module (or class) body runs at
        once cannot see what that body binds later."""
        bindings = found.bindings[name]
        if len(bindings) < 2 or not path:
            return bindings
        table = self._binding_table(found, name)
        cut = {}
        for block, index in path:
            indices = table.definite.get(block)
            if indices:
                k = bisect.bisect_left(indices, index)
                if k:
                    cut[block] = indices[k - 1]
        upper = None
        if found.kind in ("module", "class") and self._immediate(scope, found):
            upper = next(((block, index) for block, index in path if block == found.block), None)
        key = (id(bindings), tuple(cut.items()), upper)
        kept = self._reaching_cache.get(key)
        if kept is None:
            kept = self._reaching_cache[key] = table.select(cut, upper)
        return kept

    def _binding_table(self, found: Scope, name: str) -> "_BindingTable":
        key = (id(found), name)
        table = self._binding_tables.get(key)
        if table is None:
            table = self._binding_tables[key] = _BindingTable(found.bindings[name])
        return table

    @staticmethod
    def _immediate(scope: Scope, found: Scope) -> bool:
        """Whether code in ``scope`` runs while ``found``'s body runs (a
        comprehension or class body in it), not later (a function's body)."""
        s: Scope | None = scope
        while s is not found:
            if s is None or s.kind not in ("comprehension", "class"):
                return False
            s = s.parent
        return True

    def _enter(self, scope: Scope) -> None:
        self.scope = scope

    def _leave(self, scope: Scope) -> None:
        self.scope = scope

    def _set_anchor(self, anchor: cst.CSTNode | None, scope: Scope) -> None:
        self.anchor, self.scope = anchor, scope

    def _enter_block(self, block: int) -> None:
        self._path += ((block, -1),)

    def _enter_statement(self, index: int, statement: cst.CSTNode, simple: bool) -> None:
        self._path = self._path[:-1] + ((self._path[-1][0], index),)
        self._statement, self._simple = statement, simple

    def _leave_block(self, path: tuple[tuple[int, int], ...], statement: cst.CSTNode | None, simple: bool) -> None:
        self._path, self._statement, self._simple = path, statement, simple

    def _block(self, block: cst.CSTNode, statements: Any, simple: bool = False) -> list[Any]:
        """Walk a block's statements in order, knowing which one is current."""
        items: list[Any] = [Step(self._enter_block, id(block))]
        for index, statement in enumerate(statements):
            items += [Step(self._enter_statement, index, statement,
                           simple or type(statement) is cst.SimpleStatementLine), statement]
        return items + [Step(self._leave_block, self._path, self._statement, self._simple)]

    # ------------------------------------------------------------------- rules
    def rule_unsupported_syntax(self, node: cst.CSTNode) -> bool:
        """Syntax the guard does not handle is refused (RestrictedPython's
        generic_visit): a new Python or libcst version cannot slip code past
        rules that do not know its node types."""
        name = type(node).__name__
        self._add("unsupported-syntax", node, name, f"syntax the guard does not analyse ({name}); refused")
        return False

    def rule_builtins_binding(self) -> None:
        """A module-level binding of __builtins__ replaces the builtins of
        every function the script defines after it: the names the guard
        allows as builtins would then be whatever that namespace holds."""
        at = self._statement or self.module_scope.node
        self._add("builtin", at, "__builtins__ =", FORBIDDEN_BUILTINS["__builtins__"] + " (rebinding it)")

    def rule_import(self, at: cst.CSTNode, module: str, label: str) -> bool:
        """A script imports only modules on the allow-list (and the task's own
        queries and sniplets): every other module is refused, whatever it
        does, because nobody reviewed what it reaches."""
        if self.policy.is_module(module):
            return False
        reason = next((r for m, r in NEVER_MODULES.items() if module == m or module.startswith(m + ".")), None)
        self._add("import", at, label, reason or f"the module {module} is {_NOT_ALLOWED}")
        return True

    def rule_member(self, at: cst.CSTNode, module: str, members: tuple[str, ...], label: str,
                    show: cst.CSTNode | None = None, anchor: cst.CSTNode | None = None) -> bool:
        """An allowed module's members are used only as its rule allows: a
        whole module's public members (not the modules it re-exports), or the
        listed members of a module that reaches more than it should
        (sys.stdout but not sys.modules)."""
        problem = self.policy.member_problem(module, members)
        if problem is None:
            return False
        never = NEVER_MEMBERS.get(module, {}).get(members[0]) if members else None
        self._add("member", at, label, never or problem, show, anchor)
        return True

    def rule_module_as_value(self, use: Use, module: str, chain: Chain | None) -> None:
        """A module is used only as ``module.member``, where the guard sees
        the member: passed around as a value (``x = sys``) it would hide
        ``x.modules`` from the member rules."""
        label, show = self._label(use, chain)
        self._add("module-as-value", use.node, label,
                  f"the module {module} used as a value hides which members are used", show, use.anchor)

    def rule_builtin(self, use: Use, chain: Chain | None, shadowing: bool) -> bool:
        """Builtins are used by allow-list: exec, eval, open, compile,
        __import__, globals, locals, vars, dir, getattr as a value, setattr,
        input, breakpoint, ... are refused wherever they are read (called,
        passed, aliased, as a default), because a read of the name is the
        capability.  A module-level binding of the same name does not count
        unless it certainly runs first."""
        name = use.name
        reason = FORBIDDEN_BUILTINS.get(name)
        if reason is None and (name in self.policy.builtins or name not in _BUILTIN_NAMES):
            return False
        reason = reason or f"the builtin {name} is {_NOT_ALLOWED}"
        if shadowing:
            reason += " (the script's module-level binding of the name may run after this read)"
        label, show = self._label(use, chain)
        self._add("builtin", use.node, label, reason, show, use.anchor)
        return True

    def rule_unbound_name(self, use: Use) -> bool:
        """A name the script does not bind, that is no allowed builtin and no
        allowed member of a star-imported module, is refused: the guard
        cannot tell what it is (a builtin of a newer Python, a star import's
        export), so it is not reviewed."""
        if use.anchor is not None or self._star_member(use.name) is not None:
            return False
        label, show = self._label(use, self._chain_of.get(id(use.node)))
        self._add("unbound-name", use.node, label, f"{use.name} is neither bound by the script nor an allowed builtin",
                  show)
        return True

    def rule_constrained_builtin(self, use: Use, chain: Chain | None, call: cst.Call | None) -> None:
        """getattr/hasattr take literal public names only (then they are the
        attribute read they spell), and type() one argument only (three build
        classes from data); so these are called directly, never passed as
        values that could be called with anything later."""
        name = use.name
        if name in ("getattr", "hasattr"):
            if call is None or chain is not None:
                self._add("dynamic-attribute", use.node, name, self.policy.builtins[name] + " (used as a value)",
                          anchor=use.anchor)
            else:
                self.rule_attribute_by_string(call, name, use)
        elif name == "type":
            if call is None or chain is not None or len(call.args) != 1 or call.args[0].keyword or call.args[0].star:
                label, show = self._label(use, chain)
                self._add("builtin", use.node, label, self.policy.builtins["type"], show, use.anchor)

    def rule_attribute_by_string(self, call: cst.Call, fname: str, use: Use) -> None:
        """getattr(x, 'name'[, default]) and hasattr(x, 'name') with a literal
        name are x.name, and pass the attribute rules as such; a computed
        name is refused, since the guard cannot read it."""
        args = call.args
        most = 3 if fname == "getattr" else 2
        literal = _literal_str(args[1].value) if 2 <= len(args) <= most else None
        if literal is None or any(a.star or a.keyword for a in args):
            self._add("dynamic-attribute", call, f"{fname}()",
                      f"{fname} with an attribute name the guard cannot read (a computed name)", anchor=use.anchor)
            return
        self.attributes.append(AttributeUse(call, args[1].value, literal, args[0].value, use.scope, use.path,
                                            use.anchor, False))

    def rule_string_named_member(self, call: cst.Call | None, path: str, at: cst.CSTNode, label: str,
                                 anchor: cst.CSTNode | None) -> None:
        """operator.attrgetter/methodcaller read attributes named by their
        string arguments: they are called directly, with literal public
        names only (attrgetter without dotted paths, which walk attributes
        of whatever object they are given)."""
        args = call.args if call is not None else ()
        names = args if path.endswith("attrgetter") else args[:1]
        ok = call is not None and bool(names) and not any(a.star or a.keyword for a in names)
        for arg in names if ok else ():
            value = _literal_str(arg.value)
            if (value is None or not value.isidentifier() or normalize(value).startswith("_")
                    or normalize(value) in FRAME_ATTRIBUTES or value in _FORMAT_METHODS):
                # (methodcaller('format') would format a template the guard cannot read; a frame
                # attribute, attrgetter('gi_frame'), climbs as .gi_frame does: red team, round 2)
                ok = False
        if not ok:
            self._add("dynamic-attribute", at, label,
                      f"{path} reaches attributes named by strings; only literal public names are allowed",
                      anchor=anchor)

    def rule_arguments(self, call: cst.Call, path: str, use: Use) -> None:
        """Some allowed members take arguments that would read files by name
        or attributes by string (ElementTree.parse('/etc/passwd'),
        connect(option_files=...), basicConfig(filename=...), a '{' style
        logging format): those arguments are refused."""
        rule = self.policy.arguments[path]
        arguments = _Arguments(call)
        problem = next((f"{k}=" for k in sorted(rule.refused_keywords) if k in arguments.keywords), None)
        if problem is None and rule.max_positional is not None and len(arguments.positional) > rule.max_positional:
            problem = "positional arguments"
        if problem is None and (arguments.unpacked or arguments.hidden_keywords) and (rule.streams or rule.template):
            problem = "*arguments or **keywords"
        for where in rule.streams if problem is None else ():
            arg = arguments.get(where)
            if arg is not None and not self._is_stream(arg.value, use.scope, use.path):
                problem = f"{where[1]} (not an in-memory stream)"
        style = arguments.get(rule.style)
        if problem is None and style is not None and _literal_str(style.value) not in ("%", "$"):
            template = arguments.get(rule.template)
            if template is not None and not self._is_constant_str(template.value, use.scope, use.path):
                problem = f"{rule.template[1]} (a '{{' style template the guard cannot read)"
        if problem is not None:
            self._add("argument", call, f"{path}({problem})", rule.reason, anchor=use.anchor)

    def rule_private_attribute(self, a: AttributeUse) -> bool:
        """Attribute names starting with _ are refused (RestrictedPython's
        rule): dunders climb from any object to the interpreter (__class__,
        __globals__, __subclasses__, __dict__, __self__) and private members
        hold internals (random._os, dataclasses._create_fn).  Exceptions,
        each narrow: __name__ and __doc__; namedtuple's documented _asdict,
        _replace, _fields, _make, _field_defaults; dunder methods on super();
        and a class's own private attributes through its methods' first
        parameter (self._fields)."""
        name = a.name
        if name in ALLOWED_DUNDER_ATTRIBUTES or not (name.startswith("_") or normalize(name).startswith("_")):
            return False
        if name in NAMEDTUPLE_MEMBERS or self._super_dunder(a) or self._own_attribute(a):
            return False
        label = f"getattr(…, {name!r})" if type(a.node) is _Call else f".{name}"
        self._add("private-attribute", a.at, label,
                  "attribute names starting with _ reach the interpreter's or a library's internals",
                  a.node, a.anchor)
        return True

    def rule_frame_attribute(self, a: AttributeUse) -> bool:
        """Frame, traceback, generator and code attributes (f_globals,
        tb_frame, gi_frame, co_code, ...) reach running code's globals; they
        are refused on any object, whatever the guard knows of its type."""
        if a.name not in FRAME_ATTRIBUTES:
            return False
        self._add("frame-attribute", a.at, f".{a.name}", FRAME_ATTRIBUTES[a.name], a.node, a.anchor)
        return True

    def rule_format_method(self, a: AttributeUse) -> bool:
        """str.format/format_map read the attributes and items a template's
        fields name ("{0.__globals__[os]}"), so the guard must read the
        template: .format is allowed on a string literal (or a name bound
        only to literals, or str.format with one), never on a template that
        comes from data or is built at run time."""
        if a.name not in _FORMAT_METHODS or type(a.node) is not _Attribute:
            return False
        receiver, call = a.receiver, self._call_of.get(id(a.node))
        if self._is_constant_str(receiver, a.scope, a.path) or self._is_super_call(receiver, a.scope):
            return False
        if type(receiver) is _Name and normalize(receiver.value) == "str" and self._lookup("str", a.scope) is None:
            first = call.args[0] if call is not None and call.args else None
            if first is not None and not first.keyword and not first.star and self._is_constant_str(
                    first.value, a.scope, a.path):
                return False
        self._add("format-template", a.at, f".{a.name}()",
                  "a format template the guard cannot read reads any attribute its fields name", a.node, a.anchor)
        return True

    def rule_format_template(self, node: cst.CSTNode, template: str) -> bool:
        """A string literal that, used as a format template, reads _
        attributes or items ("{0.__globals__}", "{0[__builtins__]}") is
        refused wherever it appears: the guard cannot follow where a string
        goes (str.format, format_map, a '{' style logging format)."""
        field = _private_template_field(template)
        if field is None:
            return False
        self._add("format-template", node, f"{{…{field}}}",
                  "a format template whose fields read _ attributes or items climbs like the attribute does",
                  anchor=self.anchor)
        return True

    def rule_positional_class_pattern(self, node: cst.MatchClass, scope: Scope) -> bool:
        """``case C(x)`` reads the attribute named by ``C.__match_args__``, a
        run-time tuple of strings (and with a metaclass any subject matches);
        positional class patterns are allowed only for the builtins that
        match themselves (``case str(s)``) — write ``case C(attr=x)``."""
        if not node.patterns:
            return False
        cls = node.cls
        if type(cls) is _Name and normalize(cls.value) in SELF_MATCHING_CLASSES and self._lookup(
                normalize(cls.value), scope) is None:
            return False
        self._add("positional-class-pattern", node, f"case {_dotted(cls) or '…'}(…)",
                  "positional class patterns read attributes named at run time (__match_args__)")
        return True

    def rule_annotation_string(self, node: cst.CSTNode, text: str) -> list[Any]:
        """Annotation strings are evaluated by typing's machinery; they are
        checked as the code they are, in the module's namespace."""
        try:
            expr = cst.parse_expression(text.strip())
        except cst.ParserSyntaxError:
            self._add("annotation-string", node, "annotation string", "an annotation string that is not an expression")
            return []
        return [Step(self._set_anchor, node, self.module_scope), expr, Step(self._set_anchor, self.anchor, self.scope)]

    def rule_encoding_cookie(self, source: str) -> tuple[int, int, str, str] | None:
        """A coding cookie other than UTF-8 is refused: CPython honours it
        when it reads main.py (gbk, unicode_escape, utf-7 ...), so the code
        it runs would differ from the text the guard read.  Returns
        ``(line, column, label, reason)`` of the cookie, or None."""
        lines = _LINE_BREAK.split(source, 2)
        for number, line in enumerate(lines[:2], 1):
            match = _COOKIE.match(line)
            if match is not None:
                name = match.group(1)
                if _is_utf8(name):
                    return None
                return (number, line.index("#"), f"coding: {name}",
                        f"the source declares the encoding {name!r}: Python would decode main.py with it, "
                        "so the code run would not be the text checked; only UTF-8 is accepted")
            if not _BLANK_OR_COMMENT.match(line):
                return None  # a cookie counts on line 2 only after a comment or blank line
        return None

    # ------------------------------------------------------------ rule helpers
    def _is_super_call(self, node: cst.CSTNode | None, scope: Scope) -> bool:
        return (type(node) is _Call and type(node.func) is _Name and normalize(node.func.value) == "super"
                and self._lookup("super", scope) is None)

    def _super_dunder(self, a: AttributeUse) -> bool:
        """``super().__init__(...)``: a dunder method on super() of the builtin super."""
        return a.name in SUPER_DUNDER_METHODS and self._is_super_call(a.receiver, a.scope)

    def _own_attribute(self, a: AttributeUse) -> bool:
        """``self._x`` in a method of a class the script defines (bases and
        metaclass of its own too): a private attribute of the script's own
        object, written there or defined by one of its classes."""
        if _is_dunder(a.name) or type(a.receiver) is not _Name:
            return False
        name = normalize(a.receiver.value)
        found = self._lookup(name, a.scope)
        if found is None or found.self_param != name or len(found.bindings[name]) != 1:
            return False
        if not self._class_eligible(found.class_scope):
            return False
        return a.store or a.name in self.own_private

    def _class_eligible(self, class_scope: Scope | None) -> bool:
        """Whether a class's objects hold only the script's own private
        attributes: no metaclass or keywords, and every base is one of the
        script's eligible classes or a builtin class."""
        if class_scope is None:
            return False
        node = class_scope.node
        known = self._eligible.get(id(node))
        if known is not None:
            return known
        self._eligible[id(node)] = False  # cycles are not eligible
        ok = not node.keywords
        for base in node.bases if ok else ():
            ok = not base.star and base.keyword is None and self._base_eligible(base.value, class_scope.parent)
            if not ok:
                break
        self._eligible[id(node)] = ok
        return ok

    def _base_eligible(self, base: cst.CSTNode, scope: Scope) -> bool:
        if type(base) is not _Name:
            return False
        name = normalize(base.value)
        found = self._lookup(name, scope)
        if found is None:
            value = getattr(_builtins_module, name, None)
            return name in self.policy.builtins and isinstance(value, type) and value is not type
        classes = [b for b in found.bindings[name] if b.kind == "class"]
        if len(classes) != len(found.bindings[name]):
            return False
        return all(self._class_eligible(self._class_scopes.get(id(b.data))) for b in classes)

    def _bindings(self, node: cst.CSTNode | None, scope: Scope, path: tuple[tuple[int, int], ...]) -> list[Binding]:
        """The script's bindings a Name read at ``path`` may see (none for a builtin)."""
        if type(node) is not _Name:
            return []
        name = normalize(node.value)
        found = self._lookup(name, scope)
        return self._reaching(found, name, scope, path) if found is not None else []

    def _is_constant_str(self, node: cst.CSTNode | None, scope: Scope, path: tuple[tuple[int, int], ...]) -> bool:
        """A string literal, or a name every binding of which is one."""
        if _literal_str(node) is not None:
            return True
        bindings = self._bindings(node, scope, path)
        return bool(bindings) and all(b.kind == "value" and _literal_str(b.data) is not None for b in bindings)

    def _is_stream(self, node: cst.CSTNode, scope: Scope, path: tuple[tuple[int, int], ...], depth: int = 0) -> bool:
        """An in-memory stream: io.BytesIO(...)/io.StringIO(...), or a name
        every binding of which is one."""
        if type(node) is _Call:
            paths = self._paths(node.func, scope, path)
            return bool(paths) and all(p in IN_MEMORY_STREAMS for p in paths)
        if depth > 4:
            return False
        bindings = self._bindings(node, scope, path)
        return bool(bindings) and all(
            b.kind == "value" and b.data is not None and self._is_stream(b.data, b.scope, b.path, depth + 1)
            for b in bindings)

    def _star_member(self, name: str) -> str | None:
        """The star-imported module that may provide ``name``, if any."""
        for module in self.star_modules:
            rule = self.policy.modules.get(module)
            provides = rule is None or rule.whole or name in rule.members
            if provides and not name.startswith("_") and self.policy.member_problem(module, (name,)) is None:
                return module
        return None

    # ------------------------------------------------- origins of bound names
    def _origins(self, bindings: list[Binding], depth: int = 0) -> list[tuple[str, str, tuple[str, ...]]]:
        """Modules and module members a name may hold: ``("module", dotted,
        parts)`` or ``("member", module, members)``; a name assigned a chain
        (``out = sys.stdout.buffer``) holds what the chain holds."""
        out: list[tuple[str, str, tuple[str, ...]]] = []
        for b in bindings:
            if b.kind == "module":
                out.append(("module", b.data, ()))
            elif b.kind == "member":
                out.append(("member", b.data[0], tuple(b.data[1].split("."))))
            elif b.kind == "value" and b.data is not None and depth < 8:
                dotted = _dotted(b.data)
                if dotted is None:
                    continue
                root, *parts = dotted.split(".")
                found = self._lookup(root, b.scope)
                if found is not None:
                    reaching = self._reaching(found, root, b.scope, b.path)
                    for kind, module, members in self._origins(reaching, depth + 1):
                        out.append((kind, module, members + tuple(parts)))
        return out

    def _target(self, kind: str, module: str, parts: tuple[str, ...]) -> tuple[str, str, tuple[str, ...]]:
        """Normalise an origin: ``("module", m, ())``, ``("member", m, members)``
        or ``("not-allowed", dotted, ())`` for a module outside the allow-list."""
        if kind == "member":
            return kind, module, parts
        names = module.split(".") + list(parts)
        found, taken = self.policy.split_module(names)
        if found is None or taken < len(module.split(".")):
            shown = ".".join(names[: len(module.split(".")) + 1])
            return "not-allowed", shown, ()
        if taken == len(names):
            return "module", found, ()
        return "member", found, tuple(names[taken:])

    def _paths(self, expr: cst.CSTNode, scope: Scope, path: tuple[tuple[int, int], ...]) -> set[str]:
        """The dotted module members (or ``builtin:name``) an expression may be."""
        dotted = _dotted(expr)
        if dotted is None:
            return set()
        root, *parts = dotted.split(".")
        found = self._lookup(root, scope)
        if found is None:
            return {f"builtin:{root}"} if not parts else set()
        out = set()
        for origin in self._origins(self._reaching(found, root, scope, path)):
            kind, module, members = self._target(origin[0], origin[1], origin[2] + tuple(parts))
            out.add(f"{module}.{'.'.join(members)}" if kind == "member" else f"{kind}:{module}")
        return out

    # ------------------------------------------------------------------ finish
    def finish(self) -> list[Pending]:
        """Resolve every read and apply the rules; every finding, in order, at
        most one per reported node."""
        for name, scope, binding in self._nonlocal_bindings:
            target = self._lookup(name, scope.parent) if scope.parent is not None else None
            (target or scope).bindings.setdefault(name, []).append(binding)
        self._class_scopes = {id(s.node): s for s in self._all_class_scopes}
        for use in self.uses:
            self._check_use(use)
        for a in self.attributes:  # writes define a class's own private names
            if a.store and a.name.startswith("_") and self._own_attribute(a):
                self.own_private.add(a.name)
        for a in self.attributes:
            self.rule_frame_attribute(a) or self.rule_private_attribute(a) or self.rule_format_method(a)
        for node, scope in self.class_patterns:
            self.rule_positional_class_pattern(node, scope)
        seen: set[int] = set()
        out = []
        for p in self.pending:
            if id(p.at) not in seen:
                seen.add(id(p.at))
                out.append(p)
        return out

    def _check_use(self, use: Use) -> None:
        """Apply the rules to one read of a name."""
        chain = self._chain_of.get(id(use.node))
        call = self._call_of.get(id(chain.outer if chain is not None else use.node))
        found = self._lookup(use.name, use.scope)
        maybe_builtin = use.name in _BUILTIN_NAMES or use.name in FORBIDDEN_BUILTINS
        if found is None or (maybe_builtin and found.kind in ("module", "class")
                             and not self._shadowed(found, use.name, use.path)):
            if self.rule_builtin(use, chain, found is not None):
                return
            if use.name in self.policy.builtins:
                self.rule_constrained_builtin(use, chain, call)
                if found is None:
                    return
        if found is None:
            module = self._star_member(use.name)
            if module is None:
                self.rule_unbound_name(use)
                return
            origins = [("member", module, (use.name,))]
        else:
            reaching = self._reaching(found, use.name, use.scope, use.path)
            origins = self._origins_cache.get(id(reaching))
            if origins is None:
                origins = self._origins_cache[id(reaching)] = list(dict.fromkeys(self._origins(reaching)))
        for origin in origins:
            self._check_origin(use, chain, call, origin)

    def _check_origin(self, use: Use, chain: Chain | None, call: cst.Call | None,
                      origin: tuple[str, str, tuple[str, ...]]) -> None:
        """The module rules for a read of a name bound to a module or member."""
        parts = origin[2] + (chain.parts if chain is not None else ())
        kind, module, members = self._target(origin[0], origin[1], parts)
        label, show = self._label(use, chain)
        if kind == "not-allowed":
            if self.policy.is_module(origin[1]) or any(m.startswith(origin[1] + ".") for m in self.policy.modules):
                self._add("import", use.node, label, f"the module {module} is {_NOT_ALLOWED}", show, use.anchor)
        elif kind == "module":
            self.rule_module_as_value(use, module, chain)
        elif not self.rule_member(use.node, module, members, label, show, use.anchor):
            path = f"{module}.{'.'.join(members)}"
            if path in STRING_NAMED_FUNCTIONS:
                self.rule_string_named_member(call, path, use.node, label, use.anchor)
            elif path in self.policy.arguments:
                if call is None:
                    self._add("argument", use.node, label, self.policy.arguments[path].reason
                              + " (used as a value, its arguments are out of the guard's sight)", show, use.anchor)
                else:
                    self.rule_arguments(call, path, use)

    # -------------------------------------------------------------- the walk
    def visit_Module(self, node: cst.Module) -> list[Any]:
        self.module_scope.block, self.module_scope.node = id(node), node
        return self._block(node, node.body)

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> list[Any]:
        return self._block(node, node.body)

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> list[Any]:
        return self._block(node, node.body, simple=True)

    def visit_Name(self, node: cst.Name) -> bool:
        name = normalize(node.value)
        self.identifiers.add(name)
        self.uses.append(Use(node, name, self.scope, self._path, self.anchor))
        return False

    def visit_Attribute(self, node: cst.Attribute) -> list[Any]:
        attr = normalize(node.attr.value)
        self.identifiers.add(attr)
        value = node.value
        self.attributes.append(AttributeUse(node, node.attr, attr, value, self.scope, self._path, self.anchor,
                                            id(node) in self._stores))
        if type(value) is _Attribute:
            self._inner.add(id(value))
        if id(node) not in self._inner:  # the outermost attribute of a chain
            parts = [attr]
            v = value
            while type(v) is _Attribute:
                parts.append(normalize(v.attr.value))
                v = v.value
            if type(v) is _Name:
                self._chain_of[id(v)] = Chain(tuple(reversed(parts)), node)
        return [value]

    def visit_Call(self, node: cst.Call) -> list[Any]:
        self._call_of[id(node.func)] = node
        return [node.func, *node.args]

    def visit_Arg(self, node: cst.Arg) -> list[Any]:
        if node.keyword is not None:
            self.identifiers.add(normalize(node.keyword.value))
        return [node.value]

    def visit_SimpleString(self, node: cst.SimpleString) -> bool:
        if id(node) not in self._concatenated and "{" in node.value and "_" in node.value:
            template = _literal_str(node)
            if template is not None:
                self.rule_format_template(node, template)
        return False

    def visit_ConcatenatedString(self, node: cst.ConcatenatedString) -> list[Any]:
        template = _literal_str(node)
        if template is not None:
            self.rule_format_template(node, template)
        stack: list[cst.CSTNode] = [node]
        while stack and template is not None:  # its parts need no check of their own
            n = stack.pop()
            if type(n) is cst.ConcatenatedString:
                stack += [n.left, n.right]
            else:
                self._concatenated.add(id(n))
        return [node.left, node.right]

    def visit_Annotation(self, node: cst.Annotation) -> list[Any]:
        items: list[Any] = [node.annotation]
        for string in _strings_in(node.annotation):
            text = _literal_str(string)
            if text is not None:
                items += self.rule_annotation_string(string, text)
        return items

    # --- binding targets
    def _target_items(self, target: cst.CSTNode, value: cst.CSTNode | None, region: int | None = None) -> list[Any]:
        """Bind the names of an assignment target (for the body ``region``,
        if given); return what to walk (the receivers and subscripts of
        attribute and item targets)."""
        t = type(target)
        if t is _Name:
            name = normalize(target.value)
            self.identifiers.add(name)
            self._bind(name, "value", value, region=region)
            return []
        if t is cst.Tuple or t is cst.List:
            items: list[Any] = []
            for element in target.elements:
                items += self._target_items(element.value, None, region)
            return items
        if t is cst.StarredElement:
            return self._target_items(target.value, None, region)
        if t is _Attribute:
            self._stores.add(id(target))
        return [target]

    def visit_Assign(self, node: cst.Assign) -> list[Any]:
        items: list[Any] = [node.value]
        for target in node.targets:
            items += self._target_items(target.target, node.value)
        return items

    def visit_AnnAssign(self, node: cst.AnnAssign) -> list[Any]:
        items: list[Any] = [node.annotation] + ([node.value] if node.value is not None else [])
        return items + self._target_items(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> list[Any]:
        return [node.value] + self._target_items(node.target, None)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> list[Any]:
        scope = self.scope
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent
        if type(node.target) is _Name:
            name = normalize(node.target.value)
            self.identifiers.add(name)
            self._bind(name, "value", node.value, scope, definite=False)
            return [node.value]
        return [node.value, node.target]

    def visit_Del(self, node: cst.Del) -> list[Any]:
        """``del name`` unbinds: a module-level name deleted may be the builtin again."""
        stack = [node.target]
        while stack:
            target = stack.pop()
            if type(target) is _Name:
                self.deleted_globals.add(normalize(target.value))
            elif type(target) in (cst.Tuple, cst.List):
                stack += [e.value for e in target.elements]
        return self._target_items(node.target, None)

    def visit_For(self, node: cst.For) -> list[Any]:
        items: list[Any] = [node.iter, Step(self._target_items, node.target, None, id(node.body)), node.body]
        return items + ([node.orelse] if node.orelse is not None else [])

    def visit_With(self, node: cst.With) -> list[Any]:
        items: list[Any] = []
        for item in node.items:
            items.append(item.item)
            if item.asname is not None:
                items.append(Step(self._target_items, item.asname.name, None, id(node.body)))
        return items + [node.body]

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> list[Any]:
        """``except E as name`` binds ``name`` for the handler and deletes it
        after, so a builtin of that name may be read again later."""
        items: list[Any] = [node.type] if node.type is not None else []
        if node.name is not None:
            if type(node.name.name) is _Name:
                self.deleted_globals.add(normalize(node.name.name.value))
            items.append(Step(self._target_items, node.name.name, None, id(node.body)))
        return items + [node.body]

    visit_ExceptStarHandler = visit_ExceptHandler

    def visit_Global(self, node: cst.Global) -> bool:
        for item in node.names:
            name = normalize(item.name.value)
            self.identifiers.add(name)
            self.scope.declared_global.add(name)
        return False

    def visit_Nonlocal(self, node: cst.Nonlocal) -> bool:
        for item in node.names:
            name = normalize(item.name.value)
            self.identifiers.add(name)
            self.scope.declared_nonlocal.add(name)
        return False

    # --- imports
    def visit_Import(self, node: cst.Import) -> bool:
        for index, alias in enumerate(node.names):
            dotted = _dotted(alias.name) or ""
            self.identifiers.update(dotted.split("."))
            at = node if index == 0 else alias  # report ``import os`` at the statement
            self.rule_import(at, dotted, f"import {dotted}")
            if alias.asname is not None and type(alias.asname.name) is _Name:
                bound = normalize(alias.asname.name.value)
                self.identifiers.add(bound)
                self._bind(bound, "module", dotted)
            else:
                head = dotted.split(".", 1)[0]
                self._bind(head, "module", head)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        module = _dotted(node.module) if node.module is not None else ""
        self.identifiers.update(p for p in (module or "").split(".") if p)
        if node.relative:  # a sniplet importing its siblings: from . import marc21
            if len(node.relative) > 1:
                self._add("import", node, "from .. import", "relative imports beyond the task's own package")
                return False
            module = "sniplets" + ("." + module if module else "")
        names = node.names
        if isinstance(names, cst.ImportStar):
            if not self.rule_import(node, module, f"from {module} import *"):
                self.star_modules.append(module)
            return False
        whole = [normalize(a.name.value) for a in names]
        label = f"from {module} import {', '.join(whole)}"
        submodules = all(self._is_submodule(f"{module}.{name}") for name in whole)
        refused = not submodules and self.rule_import(node, module, label if len(label) < 70 else label[:69] + "…")
        for index, alias in enumerate(names):
            self._import_name(node if index == 0 else alias, module, alias, refused)
        return False

    def _is_submodule(self, dotted: str) -> bool:
        return self.policy.is_module(dotted)

    def _import_name(self, at: cst.CSTNode, module: str, alias: cst.ImportAlias, module_refused: bool) -> None:
        """Bind one name of ``from module import name [as alias]``."""
        name = normalize(alias.name.value)
        self.identifiers.add(name)
        bound = name
        if alias.asname is not None and type(alias.asname.name) is _Name:
            bound = normalize(alias.asname.name.value)
            self.identifiers.add(bound)
        full = f"{module}.{name}"
        if self._is_submodule(full):
            self._bind(bound, "module", full)
            return
        label = f"from {module} import {name}"
        if not module_refused:
            if name.startswith("_"):
                self._add("private-attribute", at, label,
                          "attribute names starting with _ reach the interpreter's or a library's internals")
            else:
                self.rule_member(at, module, (name,), label)
        self._bind(bound, "member", (module, name))

    # --- functions, classes, comprehensions
    def _parameters(self, params: cst.Parameters) -> list[cst.Param]:
        every = [*params.posonly_params, *params.params, *params.kwonly_params]
        for extra in (params.star_arg, params.star_kwarg):
            if isinstance(extra, cst.Param):
                every.append(extra)
        return every

    def _outer_parameter_items(self, params: cst.Parameters) -> list[Any]:
        """Defaults and annotations: evaluated in the enclosing scope."""
        items: list[Any] = []
        for param in self._parameters(params):
            if param.default is not None:
                items.append(param.default)
            if param.annotation is not None:
                items.append(param.annotation)
        return items

    def _bind_parameters(self, params: cst.Parameters) -> None:
        for param in self._parameters(params):
            name = normalize(param.name.value)
            self.identifiers.add(name)
            self._bind(name, "param", param)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> list[Any]:
        name = normalize(node.name.value)
        self.identifiers.add(name)
        outer = self.scope
        items: list[Any] = [*node.decorators, *self._outer_parameter_items(node.params)]
        if node.returns is not None:
            items.append(node.returns)
        self._bind(name, "def", node, definite=node is self._statement)
        scope = Scope("function", outer, node)
        if outer.kind == "class" and not any(
                type(d.decorator) is _Name and normalize(d.decorator.value) == "staticmethod" for d in node.decorators):
            first = [*node.params.posonly_params, *node.params.params][:1]
            scope.self_param = normalize(first[0].name.value) if first else None
            scope.class_scope = outer
        return items + [Step(self._enter, scope), Step(self._bind_parameters, node.params), node.body,
                        Step(self._leave, outer)]

    def visit_Lambda(self, node: cst.Lambda) -> list[Any]:
        outer = self.scope
        scope = Scope("function", outer, node)
        return [*self._outer_parameter_items(node.params), Step(self._enter, scope),
                Step(self._bind_parameters, node.params), node.body, Step(self._leave, outer)]

    def visit_ClassDef(self, node: cst.ClassDef) -> list[Any]:
        name = normalize(node.name.value)
        self.identifiers.add(name)
        outer = self.scope
        self._bind(name, "class", node, definite=node is self._statement)
        scope = Scope("class", outer, node)
        scope.block = id(node.body)
        self._all_class_scopes.append(scope)
        return [*node.decorators, *node.bases, *node.keywords, Step(self._enter, scope), node.body,
                Step(self._leave, outer)]

    def _comprehension(self, node: cst.CSTNode, results: list[cst.CSTNode]) -> list[Any]:
        """The first iterable in the enclosing scope; the rest in the comprehension's own."""
        outer = self.scope
        scope = Scope("comprehension", outer, node)
        items: list[Any] = [node.for_in.iter, Step(self._enter, scope)]
        comp: cst.CompFor | None = node.for_in
        first = True
        while comp is not None:
            if not first:
                items.append(comp.iter)
            items.append(Step(self._target_items, comp.target, None))
            items += [condition.test for condition in comp.ifs]
            comp, first = comp.inner_for_in, False
        return items + results + [Step(self._leave, outer)]

    def visit_ListComp(self, node: cst.ListComp) -> list[Any]:
        return self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: cst.DictComp) -> list[Any]:
        return self._comprehension(node, [node.key, node.value])

    # --- match patterns
    def visit_MatchAs(self, node: cst.MatchAs) -> list[Any]:
        if node.name is not None:
            self._target_items(node.name, None)
        return [node.pattern] if node.pattern is not None else []

    def visit_MatchStar(self, node: cst.MatchStar) -> bool:
        if node.name is not None:
            self._target_items(node.name, None)
        return False

    def visit_MatchMapping(self, node: cst.MatchMapping) -> list[Any]:
        if node.rest is not None:
            self._target_items(node.rest, None)
        return list(node.elements)

    def visit_MatchClass(self, node: cst.MatchClass) -> list[Any]:
        self.class_patterns.append((node, self.scope))
        return [node.cls, *node.patterns, *node.kwds]

    def visit_MatchKeywordElement(self, node: cst.MatchKeywordElement) -> list[Any]:
        """``case C(attr=...)`` reads ``attr`` from the subject like ``x.attr``."""
        attr = normalize(node.key.value)
        self.identifiers.add(attr)
        self.attributes.append(AttributeUse(node, node.key, attr, None, self.scope, self._path, self.anchor, False))
        return [node.pattern]


# ---------------------------------------------------------------------- walking
# Nodes whose children are walked as they are (every field is code to check).
_PLAIN = (
    "SimpleStatementLine Expr Pass Break Continue Return Raise Assert If "
    "Else While Try TryStar Finally BinaryOperation BooleanOperation UnaryOperation Comparison ComparisonTarget "
    "IfExp Await Yield From Tuple List Set Element StarredElement Dict DictElement StarredDictElement Subscript "
    "SubscriptElement Index Slice Integer Float Imaginary Ellipsis FormattedString FormattedStringText "
    "FormattedStringExpression Decorator Match MatchCase MatchValue MatchSingleton MatchOr MatchOrElement "
    "MatchList MatchTuple MatchSequenceElement MatchMappingElement"
).split()
# Tokens, operators and whitespace: no code in them.
_TRIVIA = (
    "Add AddAssign And AssignEqual Asynchronous BitAnd BitAndAssign BitInvert BitOr BitOrAssign BitXor "
    "BitXorAssign Colon Comma Comment Divide DivideAssign Dot EmptyLine Equal FloorDivide FloorDivideAssign "
    "GreaterThan GreaterThanEqual In Is IsNot LeftCurlyBrace LeftParen LeftShift LeftShiftAssign "
    "LeftSquareBracket LessThan LessThanEqual MatrixMultiply MatrixMultiplyAssign Minus Modulo ModuloAssign "
    "Multiply MultiplyAssign Newline Not NotEqual NotIn Or ParenthesizedWhitespace Plus Power PowerAssign "
    "RightCurlyBrace RightParen RightShift RightShiftAssign RightSquareBracket Semicolon SimpleWhitespace "
    "Subtract SubtractAssign TrailingWhitespace ImportStar"
).split()
# The fields each node with its own handler reads; any other non-empty field
# (a new Python's ``type_parameters``) is refused as unsupported syntax.
_HANDLED_FIELDS = {
    "Module": "body", "IndentedBlock": "body indent", "SimpleStatementSuite": "body", "Name": "value",
    "Attribute": "value attr", "Call": "func args", "Arg": "value keyword star",
    "SimpleString": "value prefix quote", "ConcatenatedString": "left right", "Annotation": "annotation",
    "Assign": "targets value", "AnnAssign": "target annotation value", "AugAssign": "target value",
    "NamedExpr": "target value", "Del": "target", "For": "target iter body orelse asynchronous",
    "With": "items body asynchronous", "ExceptHandler": "type name body", "ExceptStarHandler": "type name body",
    "Global": "names", "Nonlocal": "names", "Import": "names", "ImportFrom": "module names relative",
    "FunctionDef": "name params body decorators returns asynchronous", "Lambda": "params body",
    "ClassDef": "name body bases keywords decorators", "ListComp": "elt for_in", "SetComp": "elt for_in",
    "GeneratorExp": "elt for_in", "DictComp": "key value for_in", "MatchAs": "pattern name", "MatchStar": "name",
    "MatchMapping": "elements rest", "MatchClass": "cls patterns kwds", "MatchKeywordElement": "key pattern",
}
_SKIP_FIELDS = frozenset(
    {
        "lpar", "rpar", "leading_lines", "lines_after_decorators", "header", "footer",
        "trailing_whitespace", "comma", "semicolon", "colon", "equal", "dot", "operator",
        "newline", "default_indent", "default_newline", "encoding", "lbracket", "rbracket",
        "lbrace", "rbrace", "trailing_comma", "has_trailing_newline", "leading_whitespace",
    }
)
_FIELDS: dict[type, tuple[str, ...]] = {}
_UNHANDLED: dict[type, tuple[str, ...]] = {}
_HANDLERS: dict[type, Callable[[GuardVisitor, Any], Any]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in _SKIP_FIELDS and not f.name.startswith("whitespace")
        )
        _FIELDS[cls] = names
    return names


def _children(node: cst.CSTNode) -> list[Any]:
    kids: list[Any] = []
    for name in _fields(node.__class__):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            kids.append(value)
        elif value.__class__ is tuple or value.__class__ is list:
            kids.extend(item for item in value if isinstance(item, cst.CSTNode))
    return kids


def _trivia(visitor: GuardVisitor, node: cst.CSTNode) -> bool:
    return False


def _plain(visitor: GuardVisitor, node: cst.CSTNode) -> list[Any]:
    return _children(node)


def _handler(cls: type) -> Callable[[GuardVisitor, Any], Any]:
    """The handler of a node type: its visit method, a plain walk, nothing for
    trivia, and for any other type the rule that refuses it."""
    name = cls.__name__
    if cls.__module__.startswith("libcst") and name in _TRIVIA:
        handler: Callable[[GuardVisitor, Any], Any] = _trivia
    elif cls.__module__.startswith("libcst") and name in _PLAIN:
        handler = _plain
    elif cls.__module__.startswith("libcst") and hasattr(GuardVisitor, "visit_" + name):
        handler = getattr(GuardVisitor, "visit_" + name)
        handled = set(_HANDLED_FIELDS.get(name, "").split())
        _UNHANDLED[cls] = tuple(f for f in _fields(cls) if f not in handled)
    else:
        handler = GuardVisitor.rule_unsupported_syntax
    _HANDLERS[cls] = handler
    return handler


def _has_unhandled(node: cst.CSTNode) -> bool:
    for name in _UNHANDLED.get(node.__class__, ()):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode) or (isinstance(value, (tuple, list)) and value):
            return True
    return False


def walk(root: cst.CSTNode, visitor: GuardVisitor) -> None:
    """Iterative pre-order walk: each handler returns the items to walk next
    (nodes, or ``Step`` actions), ``False`` for none."""
    stack: list[Any] = [root]
    pop, push = stack.pop, stack.extend
    handlers = _HANDLERS
    while stack:
        item = pop()
        cls = item.__class__
        if cls is Step:
            result = item.fn(*item.args)
        else:
            handler = handlers.get(cls) or _handler(cls)
            if cls in _UNHANDLED and _UNHANDLED[cls] and _has_unhandled(item):
                result = visitor.rule_unsupported_syntax(item)
            else:
                result = handler(visitor, item)
        if result:
            result.reverse()
            push(result)


def _strings_in(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """String literals in an annotation that typing evaluates as code
    (``"Book"``, ``List["..."]``); the values of ``Literal[...]`` and the
    metadata of ``Annotated[T, ...]`` are data and are skipped."""
    stack = [node]
    while stack:
        n = stack.pop()
        if type(n) in _STRINGS:
            yield n
            continue
        if type(n) is cst.Subscript:
            head = (_dotted(n.value) or "").rsplit(".", 1)[-1]
            if head == "Literal":
                continue
            if head == "Annotated":
                stack.append(n.value)
                stack.extend(n.slice[:1])
                continue
        stack.extend(_children(n))
