"""Every function and public method one folder calls in another has a Google-style ``Args:`` (issue 14).

The folders are the layers' (guard, memo, flows, blocks, api, cli; see test_layers.py). What
crosses a folder, read with ``ast`` only (nothing of the project is imported):

- a function another folder imports (``from memo.settings import load_settings``, lazy imports
  and re-exports such as ``guard.check_source`` included) or reaches through an imported module
  (``settings.load_settings``);
- a class's ``__init__`` (its own or the nearest base's) where another folder calls the class;
- a public method another folder calls (``.name(...)``) on a class it sees: one it imports, one
  of whose instances it imports (``STOP``), or one named in the annotations of something it
  imports (``Runner.db: MemoDatabase`` makes ``runner.db.load_task(...)`` count).

Each of those that takes parameters (besides ``self``/``cls``) names every one under ``Args:``
in its docstring (a constructor's may be the class's docstring instead).

    python tests/test_docstrings.py     # lists what crosses, and who calls it
"""

from __future__ import annotations

import ast
import functools
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("guard", "memo", "flows", "blocks", "api", "cli")
FUNCTION = (ast.FunctionDef, ast.AsyncFunctionDef)


class Source:
    """The six folders' modules, parsed: what each defines and which names it binds by import."""

    def __init__(self, root: Path):
        self.trees: dict[str, ast.Module] = {}
        self.packages: set[str] = set()
        for top in OURS:
            for path in sorted((root / top).rglob("*.py")):
                parts = list(path.relative_to(root).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                    self.packages.add(".".join(parts))
                self.trees[".".join(parts)] = ast.parse(path.read_text(encoding="utf-8"), str(path))
        self.defs = {
            m: {n.name: n for n in tree.body if isinstance(n, (*FUNCTION, ast.ClassDef))}
            for m, tree in self.trees.items()
        }
        self.instances = {
            m: {
                n.targets[0].id: n.value.func.id
                for n in tree.body
                if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
                and isinstance(n.value, ast.Call) and isinstance(n.value.func, ast.Name)
            }
            for m, tree in self.trees.items()
        }
        self.bound = {
            m: {
                alias.asname or alias.name: (self.absolute(m, n), alias.name)
                for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                for alias in n.names
            }
            for m, tree in self.trees.items()
        }

    def absolute(self, module: str, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = module.split(".") if module in self.packages else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))

    def resolve(self, module: str, name: str, depth: int = 0):
        """What ``name`` is in ``module``: ("def", module, name), ("instance", module, class name),
        ("module", module) or None (a constant, or not ours)."""
        if depth > 20 or module not in self.trees and f"{module}.{name}" not in self.trees:
            return None
        if name in self.defs.get(module, {}):
            return ("def", module, name)
        if name in self.instances.get(module, {}):
            return ("instance", module, self.instances[module][name])
        if f"{module}.{name}" in self.trees:
            return ("module", f"{module}.{name}")
        if name in self.bound.get(module, {}):
            return self.resolve(*self.bound[module][name], depth + 1)
        return None

    def the_class(self, module: str, name: str):
        """(module, ClassDef) that ``name`` means in ``module``, or None."""
        found = self.resolve(module, name)
        if found and found[0] == "def" and isinstance(self.defs[found[1]][found[2]], ast.ClassDef):
            return found[1], self.defs[found[1]][found[2]]
        return None

    def with_bases(self, module: str, cls: ast.ClassDef, depth: int = 0):
        """``cls`` and its bases that are ours, nearest first."""
        yield module, cls
        for base in cls.bases:
            found = self.the_class(module, base.id) if isinstance(base, ast.Name) and depth < 10 else None
            if found:
                yield from self.with_bases(*found, depth + 1)

    def annotated_classes(self, module: str, node: ast.AST):
        """The classes of ours named in the annotations of ``node`` (a function, or a class's
        attributes and methods), quoted annotations included."""
        annotations = []
        for n in ast.walk(node):
            if isinstance(n, ast.AnnAssign):
                annotations.append(n.annotation)
            elif isinstance(n, FUNCTION):
                args = n.args
                every = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]
                annotations += [a.annotation for a in every if a.annotation] + ([n.returns] if n.returns else [])
        for annotation in annotations:
            for n in ast.walk(annotation):
                names = []
                if isinstance(n, ast.Name):
                    names = [n.id]
                elif isinstance(n, ast.Constant) and isinstance(n.value, str):
                    names = re.findall(r"[A-Za-z_]\w*", n.value)
                for name in names:
                    found = self.the_class(module, name)
                    if found:
                        yield found


def dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else None


def is_property(node: ast.AST) -> bool:
    return any(dotted(d) in (["property"], ["functools", "cached_property"], ["cached_property"])
               or isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter") for d in node.decorator_list)


@functools.lru_cache(maxsize=4)
def cross_folder(root: Path = ROOT) -> dict[tuple[str, str], tuple[ast.AST, ast.ClassDef | None, set[str]]]:
    """{(module, "function" or "Class.method"): (the def, its class or None, the calling modules)}."""
    src = Source(root)
    found: dict = {}

    def add(module, qualname, node, cls, user):
        found.setdefault((module, qualname), (node, cls, set()))[2].add(user)

    for user, tree in src.trees.items():
        folder = user.split(".")[0]

        def foreign(module: str) -> bool:
            return module.split(".")[0] in OURS and module.split(".")[0] != folder

        modules, names = {}, {}  # alias -> module; alias (or dotted use) -> what it resolves to
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and foreign(src.absolute(user, n)):
                for alias in n.names:
                    what = src.resolve(src.absolute(user, n), alias.name)
                    if what and what[0] == "module":
                        modules[alias.asname or alias.name] = what[1]
                    elif what:
                        names[alias.asname or alias.name] = what
            elif isinstance(n, ast.Import):
                for alias in n.names:
                    if foreign(alias.name):  # import memo.settings [as s]: memo.settings.x, or s.x
                        top = alias.name.split(".")[0]
                        modules[alias.asname or top] = alias.name if alias.asname else top
        for n in ast.walk(tree):
            parts = dotted(n) if isinstance(n, ast.Attribute) else None
            if parts and parts[0] in modules:
                module = modules[parts[0]]
                for i, part in enumerate(parts[1:], 2):
                    what = src.resolve(module, part)
                    if what and what[0] == "module":
                        module = what[1]
                        continue
                    if what:
                        names[".".join(parts[:i])] = what
                    break

        seen = {}  # id(ClassDef) -> (module, ClassDef)
        for name, what in names.items():
            if what[0] == "instance":
                cls = src.the_class(what[1], what[2])
                if cls:
                    seen[id(cls[1])] = cls
                continue
            _, module, defname = what
            node = src.defs[module][defname]
            if isinstance(node, ast.ClassDef):
                seen[id(node)] = (module, node)
            else:
                add(module, defname, node, None, user)
            for cls_module, cls in src.annotated_classes(module, node):
                if foreign(cls_module):
                    seen[id(cls)] = (cls_module, cls)

        calls = [n.func for n in ast.walk(tree) if isinstance(n, ast.Call)]
        for n in calls:  # constructors: Class(...) of a class imported from another folder
            parts = dotted(n)
            what = names.get(".".join(parts)) if parts else None
            if what and what[0] == "def" and isinstance(src.defs[what[1]][what[2]], ast.ClassDef):
                for module, cls in src.with_bases(what[1], src.defs[what[1]][what[2]]):
                    init = next((i for i in cls.body if isinstance(i, FUNCTION) and i.name == "__init__"), None)
                    if init:
                        add(module, f"{cls.name}.__init__", init, cls, user)
                        break
        called = {n.attr for n in calls if isinstance(n, ast.Attribute)}
        for module, cls in list(seen.values()):
            for base_module, base in src.with_bases(module, cls):
                for item in base.body:
                    if (isinstance(item, FUNCTION) and not item.name.startswith("_") and item.name in called
                            and not is_property(item) and foreign(base_module)):
                        add(base_module, f"{base.name}.{item.name}", item, base, user)
    return found


def parameters(node: ast.AST) -> list[str]:
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [f"*{args.vararg.arg}"] if args.vararg else []
    names += [f"**{args.kwarg.arg}"] if args.kwarg else []
    return [n for n in names if n not in ("self", "cls")]


def documented(docstring: str) -> set[str]:
    """The names an ``Args:`` section lists (``name: what it means``, continuation lines indented further)."""
    lines = docstring.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Args:"), None)
    if start is None:
        return set()
    names, indent = set(), None
    for line in lines[start + 1:]:
        if not line.strip():
            break
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth < indent:
            break
        entry = re.match(r"\s*(\*{0,2}\w+)(?:\s*\([^)]*\))?:", line)
        if depth == indent and entry:
            names.add(entry.group(1))
    return names


def missing_args(root: Path = ROOT) -> list[str]:
    problems = []
    for (module, qualname), (node, cls, users) in sorted(cross_folder(root).items()):
        wanted = parameters(node)
        if not wanted:
            continue
        docs = documented(ast.get_docstring(node) or "")
        if node.name == "__init__" and cls is not None:
            docs |= documented(ast.get_docstring(cls) or "")
        lacking = [p for p in wanted if p not in docs and p.lstrip("*") not in docs]
        if lacking:
            problems.append(f"{module}.{qualname} (called from {', '.join(sorted(users))}): Args lacks {lacking}")
    return problems


def test_every_cross_folder_function_documents_its_args():
    assert missing_args() == []


def test_the_rule_finds_what_crosses_the_folders():
    """Imports, re-exports, module attributes, imported instances and annotated attributes are seen;
    a function called only inside its own folder is not."""
    found = cross_folder(ROOT)
    for expected in [
        ("memo.settings", "load_settings"),  # from memo.settings import load_settings
        ("guard.check", "check_source"),  # re-exported by guard/__init__.py
        ("blocks", "apply_blocks"),
        ("memo.database", "MemoDatabase.load_task"),  # runner.db.load_task(...) in flows/task.py
        ("memo.database", "MemoDatabase.__init__"),  # MemoDatabase(url) in cli/main.py
        ("memo.stopping", "StopRequest.begin"),  # STOP.begin(...) in api/serve.py
        ("memo.secrets_file", "SecretsFile.lines"),  # ensure_secrets_file(...) -> SecretsFile
        ("memo.errors", "MemoError.__init__"),  # ConfigError(...): the base's __init__
    ]:
        assert expected in found, expected
    assert ("memo.database", "MemoDatabase.write_runlog") not in found  # memo/ only
    assert ("blocks.memo", "apply_blocks") not in found  # blocks/ only


def test_the_rule_can_fail(tmp_path):
    """A parameter missing from ``Args:`` is caught; a method no other folder calls is not asked for."""
    (tmp_path / "guard").mkdir()
    (tmp_path / "memo").mkdir()
    (tmp_path / "guard" / "__init__.py").write_text("from .core import check\n")
    (tmp_path / "guard" / "core.py").write_text(textwrap.dedent('''
        class Tool:
            def use(self, x):
                """Uses.

                Args:
                    x: what.
                """

            def other(self, y):
                """Not called from memo/."""


        def check(source, *, name=None) -> Tool:
            """Checks.

            Args:
                source: the text.
            """
    '''))
    (tmp_path / "memo" / "run.py").write_text("from guard import check\n\ncheck('x').use(1)\n")
    assert sorted(cross_folder(tmp_path)) == [("guard.core", "Tool.use"), ("guard.core", "check")]
    assert missing_args(tmp_path) == ["guard.core.check (called from memo.run): Args lacks ['name']"]


if __name__ == "__main__":
    for (module, qualname), (node, _, users) in sorted(cross_folder(ROOT).items()):
        print(f"{module}.{qualname}:{node.lineno}  <- {', '.join(sorted(users))}")
    print("\n".join(missing_args()) or "all documented", file=sys.stderr)
