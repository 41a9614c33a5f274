"""The guard's rules: one libcst visitor, one small method per rule.

The visitor decides on the syntax tree only: names, attributes, calls and
imports.  String literals, comments and docstrings never trigger a rule, with
two exceptions where Python itself treats a string as code and the guard
parses it as code: annotation strings (``typing.get_type_hints`` evals them)
and the field names of a literal ``"...".format`` template (which read
attributes).

The checks are flow- and scope-insensitive on purpose: an import anywhere in
the script binds its alias everywhere, and a name spelled like a forbidden
builtin is refused wherever it is read.  That over-approximates, which a
guard may do; it never under-approximates a spelling it knows.

``walk`` is a fast read-only pre-order traversal that calls the visitor's own
``visit_<Node>`` methods (libcst's ``node.visit`` rebuilds every node and is
several times slower); ``module.visit(GuardVisitor(...))`` gives the same
result and the tests check that it does.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator, NamedTuple

import _string  # the format-string parser str.format itself uses
import libcst as cst

from .policy import Policy, normalize

__all__ = ["GuardVisitor", "Pending", "walk"]

_Name = cst.Name
_Attribute = cst.Attribute
_SimpleString = cst.SimpleString
_ConcatenatedString = cst.ConcatenatedString


# builtins whose class pattern matches the subject itself: ``case int(x)``
_SELF_MATCHING = frozenset(
    {"bool", "bytearray", "bytes", "dict", "float", "frozenset", "int", "list", "set", "str", "tuple"}
)
_FORMAT_METHODS = frozenset({"format", "format_map", "vformat"})


class Pending(NamedTuple):
    """A finding before positions are known: ``at`` is the node whose start is
    reported, ``show`` the node whose code is quoted."""

    rule: str
    at: cst.CSTNode
    show: cst.CSTNode
    label: str
    reason: str


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


def _literal_str(node: cst.CSTNode) -> str | None:
    """The value of a plain (non-f, non-bytes) string literal, else None."""
    if type(node) in (_SimpleString, _ConcatenatedString):
        try:
            value = node.evaluated_value
        except Exception:  # pragma: no cover - libcst validated the literal
            return None
        return value if isinstance(value, str) else None
    return None


def _format_attributes(template: str, depth: int = 0) -> Iterator[str]:
    """Attribute names read by ``template.format(...)``: ``{0.__class__}``."""
    for _literal, field_name, spec, _conv in _string.formatter_parser(template):
        if field_name:
            _first, rest = _string.formatter_field_name_split(field_name)
            for is_attr, key in rest:
                if is_attr:
                    yield key
        if spec and depth < 2:
            yield from _format_attributes(spec, depth + 1)


class GuardVisitor(cst.CSTVisitor):
    """Collects the illegal instructions of one script.

    Each ``rule_*`` method is one rule; its docstring is its reason.  The
    ``visit_*`` methods only route nodes to the rules.  Call :meth:`finish`
    after the walk for the rules that need the whole script (aliases).
    """

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self.policy = policy
        self.pending: list[Pending] = []
        self.aliases: dict[str, tuple[str, str]] = {}  # bound name -> (origin, "import"|"from")
        self.has_star_import = False
        self.identifiers: set[str] = set()  # every identifier in the tree, for the parser cross-check
        self._skip: set[int] = set()  # Name nodes that are not references
        self._receivers: set[int] = set()  # Names used as ``name.attr``
        self._inner: set[int] = set()  # Attributes that are the value of another
        self._called: set[int] = set()  # callee nodes
        self._call_of: dict[int, cst.Call] = {}  # callee node -> its call
        self._chain_of: dict[int, cst.CSTNode] = {}  # root Name -> outermost attribute
        self._chain_label: dict[int, str] = {}
        self._chains: list[tuple[str, list[str], cst.CSTNode, str]] = []
        self._values: dict[str, list[cst.Name]] = {}
        self._stores: set[int] = set()  # Names assigned to (``json = None``), not used as values
        self._annotation_strings: list[tuple[cst.CSTNode, str]] = []
        # derived look-ups
        self._member_roots = {k.split(".", 1)[0] for k in policy.module_members}
        self._module_roots = {k.split(".", 1)[0] for k in policy.forbidden_modules}

    # ------------------------------------------------------------------ output
    def _add(self, rule: str, at: cst.CSTNode, label: str, reason: str, show: cst.CSTNode | None = None) -> None:
        if show is None:  # quote the whole chain and call: ``os.system('id')``
            show = self._chain_of.get(id(at), at)
            show = self._call_of.get(id(show), show)
        self.pending.append(Pending(rule, at, show, label, reason))

    def _attribute_problem(self, name: str) -> tuple[str, str] | None:
        """(rule, reason) if an attribute called ``name`` may not be used."""
        policy = self.policy
        for n in (name, normalize(name)) if not name.isascii() else (name,):
            if _is_dunder(n):
                if n in policy.forbidden_dunders:
                    return "dunder-attribute", policy.forbidden_dunders[n]
                if n not in policy.allowed_dunders:
                    return "dunder-attribute", "dunder attribute outside the allowed list: climbs into the interpreter"
            if n in policy.forbidden_attributes:
                return "forbidden-attribute", policy.forbidden_attributes[n]
            stripped = n.lstrip("_")
            if stripped in policy.module_attribute_names:
                return "module-attribute", policy.module_attribute_names[stripped]
        return None

    # ------------------------------------------------------------------- rules
    def rule_forbidden_name(self, node: cst.Name, name: str) -> bool:
        """MEMO forbids exec, eval, open, os. and subprocess.; a name that is
        one of them (or __import__, compile, globals, builtins, ...) is refused
        wherever it appears — called, passed as a value, aliased or assigned —
        because any read of it gives the script the capability."""
        reason = self.policy.forbidden_names.get(name)
        if reason is None:
            return False
        label = self._chain_label.get(id(node)) or (name + "()" if id(node) in self._called else name)
        self._add("forbidden-name", node, label, reason)
        return True

    def rule_dunder_name(self, node: cst.Name, name: str) -> bool:
        """Dunder names such as __builtins__, __loader__ or __class__ lead out
        of the script's namespace; only harmless ones (__name__, __file__,
        __doc__, ...) may be referenced."""
        if not _is_dunder(name) or name in self.policy.allowed_dunders:
            return False
        reason = self.policy.forbidden_dunders.get(name, "dunder name outside the allowed list")
        self._add("dunder-name", node, name, reason)
        return True

    def rule_dynamic_attribute_value(self, node: cst.CSTNode, name: str) -> bool:
        """getattr/setattr/delattr/attrgetter/methodcaller passed around as
        values can be called later with any string, out of the guard's sight;
        they may only be called directly."""
        if name not in self.policy.dynamic_attribute_functions or id(node) in self._called:
            return False
        at = node.attr if type(node) is _Attribute else node
        self._add("dynamic-attribute", at, name, self.policy.dynamic_attribute_functions[name] + " (used as a value)", node)
        return True

    def rule_attribute_name(self, node: cst.Attribute, attr: str) -> bool:
        """Some attribute names are refused on any object: dunders that climb
        (__class__, __globals__, __subclasses__, ...), frame and code
        attributes (f_globals, tb_frame, gi_frame, ...) and module names
        (tempfile.os, random._os, ElementTree.io) that reach a forbidden module
        through another module."""
        problem = self._attribute_problem(attr)
        if problem is None:
            return False
        self._add(problem[0], node.attr, "." + attr, problem[1], node)
        return True

    def rule_dynamic_attribute_call(self, node: cst.Call, fname: str) -> None:
        """getattr(x, name) and friends are allowed only with literal attribute
        names, which then pass the same attribute rules as ``x.name``."""
        args = node.args
        reason = self.policy.dynamic_attribute_functions[fname]
        if fname in ("getattr", "setattr", "delattr", "methodcaller"):
            index = 0 if fname == "methodcaller" else 1
            if any(a.star for a in args[: index + 1]) or len(args) <= index or args[index].keyword is not None:
                self._add("dynamic-attribute", node, f"{fname}()", reason)
                return
            literal_args = [args[index]]
        else:  # attrgetter: every argument is a (dotted) attribute name
            if not args or any(a.star or a.keyword is not None for a in args):
                self._add("dynamic-attribute", node, f"{fname}()", reason)
                return
            literal_args = list(args)
        for arg in literal_args:
            value = _literal_str(arg.value)
            if value is None:
                self._add("dynamic-attribute", node, f"{fname}()", reason + "; this one is not a literal")
                return
            parts = value.split(".") if fname == "attrgetter" else [value]
            for part in parts:
                problem = self._attribute_problem(part)
                if problem is not None:
                    self._add(problem[0], arg.value, f"{fname}(…, {value!r})", problem[1], node)
                    return
            if fname in ("getattr", "setattr", "delattr"):
                root = args[0].value
                chain = _dotted(root)
                if chain is not None:
                    head, *rest = chain.split(".")
                    self._chains.append((head, rest + parts, node, f"{fname}({chain}, {value!r})"))

    def rule_format_template(self, node: cst.Call, template: str) -> None:
        """A literal template's fields read attributes: "{0.__class__}".format(x)
        climbs like x.__class__ does, so its field names pass the attribute
        rules."""
        try:
            names = list(_format_attributes(template))
        except ValueError:
            return  # str.format would raise on this template
        for attr in names:
            problem = self._attribute_problem(attr)
            if problem is not None:
                self._add("format-string-attribute", node, f"format(…{{.{attr}}})", problem[1])
                return

    def rule_import(self, node: cst.CSTNode, dotted: str, label: str) -> bool:
        """Importing a forbidden module (os, subprocess, builtins, importlib,
        pathlib, shutil, pty, ctypes, pickle, ...) or a submodule of one is
        refused: the import is how a script obtains the capability."""
        refused = self.policy.module_refusal(dotted)
        if refused is not None:
            self._add("forbidden-module", node, label, refused[1])
            return True
        return self.rule_module_member(node, dotted, label, start=1)

    def rule_module_member(self, node: cst.CSTNode, dotted: str, label: str, start: int) -> bool:
        """Some members of otherwise useful modules are refused (sys.modules,
        io.open, codecs.open, typing.get_type_hints, ...): they open files,
        reach every module or evaluate strings."""
        members = self.policy.module_members
        parts = dotted.split(".")
        for i in range(max(start, 1), len(parts)):
            table = members.get(".".join(parts[:i]))
            if table is not None and parts[i] in table:
                self._add("module-member", node, label, table[parts[i]])
                return True
        return False

    def rule_module_private(self, node: cst.CSTNode, member: str, label: str) -> bool:
        """Private members of library modules (random._os, dataclasses._create_fn,
        sys._getframe) are internals that reach os or exec; MEMO's own
        sniplets and queries are exempt (this guard checks them too)."""
        if not member.startswith("_") or _is_dunder(member):
            return False
        self._add("module-private", node, label, "private member of a library module: internals reach os, exec or open")
        return True

    def rule_bound_name(self, node: cst.CSTNode, name: str, label: str) -> bool:
        """``import x as eval`` or ``from m import y as __builtins__`` binds a
        forbidden name, which is refused like any other use of it."""
        if name in self.policy.forbidden_names:
            self._add("forbidden-name", node, label, self.policy.forbidden_names[name])
            return True
        if _is_dunder(name) and name not in self.policy.allowed_dunders:
            self._add("dunder-name", node, label, self.policy.forbidden_dunders.get(name, "dunder name outside the allowed list"))
            return True
        return False

    def rule_star_import(self, node: cst.ImportFrom, module: str) -> bool:
        """``from sys import *`` binds members the guard refuses (modules, ...)
        under bare names, so a star import from a module with refused members
        is refused."""
        members = self.policy.module_members
        if module in members or any(k.startswith(module + ".") for k in members):
            self._add("star-import", node, f"from {module} import *", "binds refused members under bare names")
            return True
        return False

    def rule_module_as_value(self, node: cst.Name, name: str, origin: str) -> None:
        """A module bound by ``import m`` may only be used as ``m.attr``, where
        the guard sees the attribute; passing the module around (``x = sys``)
        would hide ``x.modules`` from the member rules."""
        self._add("module-as-value", node, name, f"the module {origin} used as a value hides which members are used")

    def rule_annotation_string(self, node: cst.CSTNode, text: str, expr: cst.BaseExpression | None) -> None:
        """Annotation strings are evaluated by typing.get_type_hints, dataclass
        and dispatch machinery; they are checked as the code they are."""
        if expr is None:
            self._add("annotation-string", node, "annotation string", "an annotation string that is not an expression")
            return
        sub = GuardVisitor(self.policy)
        sub.aliases = self.aliases
        sub.has_star_import = self.has_star_import
        walk(expr, sub)
        for found in sub.finish():
            self._add(found.rule, node, f"{found.label} in annotation", found.reason + " (annotation strings are evaluated as code)")
            return

    def rule_positional_class_pattern(self, node: cst.MatchClass, cls_name: str | None) -> bool:
        """``case C(x)`` reads the attribute named by ``C.__match_args__``, a
        runtime tuple of strings (made with type() or make_dataclass, and with
        a metaclass any subject matches); positional class patterns are allowed
        only for the builtins that match themselves — use ``case C(attr=x)``."""
        if not node.patterns or cls_name in _SELF_MATCHING:
            return False
        self._add("positional-class-pattern", node, f"case {cls_name or '…'}(…)",
                  "positional class patterns read attributes named at run time (__match_args__)")
        return True

    def rule_wrapper_attributes(self, node: cst.Call, fname: str) -> None:
        """functools.update_wrapper/wraps copy the attributes named in
        ``assigned``/``updated`` (e.g. '__globals__'); those must be literal
        tuples of names that pass the attribute rules."""
        first = 2 if fname == "update_wrapper" else 1
        positional = [a for a in node.args if a.keyword is None]
        named = {normalize(a.keyword.value): a for a in node.args if a.keyword is not None}
        if any(a.star for a in node.args):
            self._add("dynamic-attribute", node, f"{fname}(*…)", "copies attributes named by strings the guard cannot see")
            return
        for index, key in ((first, "assigned"), (first + 1, "updated")):
            arg = named.get(key) or (positional[index] if len(positional) > index else None)
            if arg is None:
                continue
            value = arg.value
            items = value.elements if type(value) in (cst.Tuple, cst.List) else None
            names = [_literal_str(e.value) for e in items if not isinstance(e, cst.StarredElement)] if items is not None else None
            if names is None or len(names) != len(items) or any(n is None for n in names):
                self._add("dynamic-attribute", arg.value, f"{fname}({key}=…)",
                          "copies attributes named by strings the guard cannot see", node)
                return
            for name in names:
                problem = self._attribute_problem(name)
                if problem is not None:
                    self._add(problem[0], arg.value, f"{fname}({key}=…{name!r}…)", problem[1], node)
                    return

    # -------------------------------------------------------------- dispatchers
    def visit_Import(self, node: cst.Import) -> bool:
        for index, alias in enumerate(node.names):
            dotted = _dotted(alias.name) or ""
            self.identifiers.update(dotted.split("."))
            if alias.asname is not None and type(alias.asname.name) is _Name:
                self.identifiers.add(normalize(alias.asname.name.value))
            at = node if index == 0 else alias  # report ``import os`` at the statement
            self.rule_import(at, dotted, f"import {dotted}")
            if alias.asname is not None and type(alias.asname.name) is _Name:
                bound = normalize(alias.asname.name.value)
                self.rule_bound_name(at, bound, f"import {dotted} as {bound}")
                self.aliases[bound] = (dotted, "import")
            else:
                head = dotted.split(".", 1)[0]
                self.aliases[head] = (head, "import")
        return False  # nothing else inside an import statement

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        module = _dotted(node.module) if node.module is not None else ""
        self.identifiers.update(p for p in (module or "").split(".") if p)
        if not isinstance(node.names, cst.ImportStar):
            for a in node.names:
                self.identifiers.update((_dotted(a.name) or "").split("."))
                if a.asname is not None and type(a.asname.name) is _Name:
                    self.identifiers.add(normalize(a.asname.name.value))
        module = "." * len(node.relative) + (module or "")
        relative = module.startswith(".")
        trusted = self.policy.is_trusted(module)
        if isinstance(node.names, cst.ImportStar):
            imported = "*"
        else:
            imported = ", ".join(_dotted(a.name) or "" for a in node.names)
            if len(imported) > 40:
                imported = imported[:39] + "…"
        if not relative and self.rule_import(node, module, f"from {module} import {imported}"):
            return False
        if isinstance(node.names, cst.ImportStar):
            self.has_star_import = True
            if not relative:
                self.rule_star_import(node, module)
            return False
        for index, alias in enumerate(node.names):
            at = node if index == 0 else alias  # the first one at the statement
            name = normalize(alias.name.value) if type(alias.name) is _Name else (_dotted(alias.name) or "")
            label = f"from {module} import {name}"
            full = f"{module}.{name}" if not module.endswith(".") else module + name
            done = False
            if not relative:
                done = self.rule_import(at, full, label)
            if not done:
                done = self.rule_bound_name(at, name, label)
            if not done:
                problem = self._attribute_problem(name)
                if problem is not None and not (trusted and problem[0] == "module-attribute"):
                    self._add(problem[0], at, label, problem[1])
                    done = True
            if not done and not trusted:
                self.rule_module_private(at, name, label)
            bound = name
            if alias.asname is not None and type(alias.asname.name) is _Name:
                bound = normalize(alias.asname.name.value)
                if not self.rule_bound_name(at, bound, f"{label} as {bound}") and bound != name and (
                    name in self.policy.dynamic_attribute_functions or name in ("update_wrapper", "wraps")
                ):
                    # a renamed getattr-like function escapes the call rules
                    self._add("dynamic-attribute", at, f"{label} as {bound}",
                              "renaming an attribute-by-string function hides its calls from the guard")
            self.aliases[bound] = (full, "from")
        return False

    def visit_Name(self, node: cst.Name) -> None:
        name = normalize(node.value)
        self.identifiers.add(name)
        i = id(node)
        if i in self._skip:
            return
        if not (self.rule_forbidden_name(node, name) or self.rule_dunder_name(node, name)):
            self.rule_dynamic_attribute_value(node, name)
        if i not in self._receivers and i not in self._stores:
            self._values.setdefault(name, []).append(node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        attr = normalize(node.attr.value)
        self._skip.add(id(node.attr))
        value = node.value
        if type(value) is _Name:
            self._receivers.add(id(value))
        elif type(value) is _Attribute:
            self._inner.add(id(value))
        if id(node) not in self._inner:  # outermost attribute of a chain
            parts = [attr]
            v = value
            while type(v) is _Attribute:
                parts.append(normalize(v.attr.value))
                v = v.value
            if type(v) is _Name:
                parts.reverse()
                root = normalize(v.value)
                label = ".".join([root, *parts]) + ("()" if id(node) in self._called else "")
                self._chain_label[id(v)] = label
                self._chain_of[id(v)] = node
                self._chains.append((root, parts, node, label))
        if not self.rule_attribute_name(node, attr):
            self.rule_dynamic_attribute_value(node, attr)
        if attr in _FORMAT_METHODS:
            template = _literal_str(value)
            if template is not None:  # "{0.__class__}".format, called or bound
                self.rule_format_template(node, template)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        self._called.add(id(func))
        self._call_of[id(func)] = node
        if type(func) is _Name:
            fname = normalize(func.value)
        elif type(func) is _Attribute:
            fname = normalize(func.attr.value)
        else:
            return
        if fname in self.policy.dynamic_attribute_functions:
            self.rule_dynamic_attribute_call(node, fname)
        elif fname in ("update_wrapper", "wraps"):
            self.rule_wrapper_attributes(node, fname)
        elif fname in _FORMAT_METHODS and type(func) is _Attribute and _literal_str(func.value) is None:
            # str.format(template, ...), string.Formatter().format(template, ...)
            if node.args and node.args[0].keyword is None and not node.args[0].star:
                template = _literal_str(node.args[0].value)
                if template is not None:
                    self.rule_format_template(node, template)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if type(node.target) is _Name:
            self._stores.add(id(node.target))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._skip.add(id(node.keyword))

    def visit_Param(self, node: cst.Param) -> None:
        self._skip.add(id(node.name))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._skip.add(id(node.name))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._skip.add(id(node.name))

    def visit_MatchClass(self, node: cst.MatchClass) -> None:
        self.rule_positional_class_pattern(node, _dotted(node.cls))

    def visit_MatchKeywordElement(self, node: cst.MatchKeywordElement) -> None:
        # ``case C(attr=...)`` reads ``attr`` from the subject like ``x.attr``.
        attr = normalize(node.key.value)
        self._skip.add(id(node.key))
        problem = self._attribute_problem(attr)
        if problem is not None:
            self._add(problem[0], node.key, f"case …({attr}=…)", problem[1], node)

    def visit_Annotation(self, node: cst.Annotation) -> None:
        for string in _strings_in(node.annotation):
            text = _literal_str(string)
            if text is not None:
                self._annotation_strings.append((string, text))

    # ------------------------------------------------------------------ finish
    def _resolve(self, root: str) -> tuple[str, str] | None:
        alias = self.aliases.get(root)
        if alias is not None:
            return alias
        # A name spelled like a module the policy restricts is checked as that
        # module even without an import (it may come from a star import).
        if root in self._member_roots or (self.has_star_import and root in self._module_roots):
            return root, "name"
        return None

    def finish(self) -> list[Pending]:
        """Apply the whole-script rules and return every finding, in order,
        at most one per reported node."""
        policy = self.policy
        for root, parts, node, label in self._chains:
            resolved = self._resolve(root)
            if resolved is None or root in policy.forbidden_names:
                continue
            origin, _kind = resolved
            dotted = ".".join([origin, *parts])
            origin_len = origin.count(".") + 1
            refused = policy.module_refusal(dotted)
            if refused is not None and policy.module_refusal(origin) is None:
                self._add("forbidden-module", node, label, refused[1])
                continue
            if self.rule_module_member(node, dotted, label, start=origin_len):
                continue
            if policy.is_trusted(origin):
                continue
            for part in parts:
                stripped = part.lstrip("_")
                if stripped in policy.module_attribute_names or _is_dunder(part):
                    break  # already reported by the attribute rules
                if policy.module_refusal(stripped) is not None:
                    self._add("module-attribute", node, label,
                              f"reaches the forbidden module {stripped!r} through another module's namespace")
                    break
                if self.rule_module_private(node, part, label):
                    break
        for name, nodes in self._values.items():
            alias = self.aliases.get(name)
            if alias is None:
                # only a star import can bind a module under a bare name
                restricted = self.has_star_import and name in policy.module_members
                origin = name
            else:
                origin, kind = alias
                restricted = origin in policy.module_members or (kind == "import" and not policy.is_trusted(origin))
            if restricted and name not in policy.forbidden_names:
                for n in nodes:
                    self.rule_module_as_value(n, name, origin)
        for string, text in self._annotation_strings:
            try:
                expr = cst.parse_expression(text.strip())
            except Exception:
                expr = None
            self.rule_annotation_string(string, text, expr)
        seen: set[int] = set()
        out = []
        for p in self.pending:
            if id(p.at) in seen:
                continue
            seen.add(id(p.at))
            out.append(p)
        return out


# ---------------------------------------------------------------------- walking
_SKIP_FIELDS = frozenset(
    {
        "lpar", "rpar", "leading_lines", "lines_after_decorators", "header", "footer",
        "trailing_whitespace", "comma", "semicolon", "colon", "equal", "dot", "operator",
        "newline", "default_indent", "default_newline", "encoding",
    }
)
_FIELDS: dict[type, tuple[str, ...]] = {}
_HANDLERS: dict[tuple[type, type], Callable[[Any], Any] | None] = {}


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


def _own_visit_methods(visitor_cls: type) -> dict[str, str]:
    """visit_* methods defined by the visitor class itself (libcst's base
    classes define a no-op for every node type)."""
    names: dict[str, str] = {}
    for klass in visitor_cls.__mro__:
        if klass.__module__.startswith("libcst"):
            break
        for attr in vars(klass):
            if attr.startswith("visit_") and attr not in names:
                names[attr] = attr
    return names


def walk(root: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """Pre-order, read-only traversal calling ``visitor.visit_<Node>(node)``;
    a ``False`` return skips the node's children, as in libcst."""
    vcls = type(visitor)
    own = _own_visit_methods(vcls)
    CSTNode = cst.CSTNode
    stack: list[Any] = [root]
    pop = stack.pop
    while stack:
        node = pop()
        cls = node.__class__
        key = (vcls, cls)
        try:
            handler_name = _HANDLERS[key]
        except KeyError:
            handler_name = own.get("visit_" + cls.__name__)
            _HANDLERS[key] = handler_name
        if handler_name is not None and getattr(visitor, handler_name)(node) is False:
            continue
        kids: list[Any] = []
        for name in _fields(cls):
            value = getattr(node, name)
            if isinstance(value, CSTNode):
                kids.append(value)
            elif value.__class__ is tuple or value.__class__ is list:
                for item in value:
                    if isinstance(item, CSTNode):
                        kids.append(item)
        kids.reverse()
        stack.extend(kids)


def _strings_in(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """String literals in an annotation that typing evaluates as code
    (``"Book"``, ``List["..."]``); the values of ``Literal[...]`` and the
    metadata of ``Annotated[T, ...]`` are data and are skipped."""
    stack = [node]
    while stack:
        n = stack.pop()
        if type(n) in (_SimpleString, _ConcatenatedString):
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
        for name in _fields(n.__class__):
            value = getattr(n, name)
            if isinstance(value, cst.CSTNode):
                stack.append(value)
            elif isinstance(value, (tuple, list)):
                stack.extend(v for v in value if isinstance(v, cst.CSTNode))
