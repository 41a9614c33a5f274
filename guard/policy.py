"""The guard's policy: data, with a reason for every entry.

MEMO's written policy forbids five instructions in scripts: ``exec``, ``eval``,
``open``, ``os.`` and ``subprocess.``.  Forbidding the five *spellings* is
useless on its own (``from os import system``, ``__import__('os')``,
``e = eval``), so the default policy below also lists every route to the same
capabilities that the guard knows of: the builtins module, the import
machinery, introspection that climbs from any object back to the builtins, and
the standard-library modules that read files, run processes or execute strings
under other names.

The policy is *data*.  The rules in :mod:`guard.visitor` only look names up
here, so an operator extends the policy with a JSON file (see
:func:`load_policy`) and never needs a code change in the runner.

Identifiers are compared after NFKC normalisation (as Python itself does when
it reads source); the names in this file are the normalised spellings.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["Policy", "default_policy", "load_policy", "normalize"]


def normalize(identifier: str) -> str:
    """NFKC-normalise an identifier as Python's tokenizer does (PEP 3131)."""
    if identifier.isascii():
        return identifier
    return unicodedata.normalize("NFKC", identifier)


# --------------------------------------------------------------------------
# Reasons, shared by many entries
# --------------------------------------------------------------------------
_EXEC = "MEMO policy: executes arbitrary code (exec/eval)"
_OPEN = "MEMO policy: reads or writes files (open)"
_OS = "MEMO policy: operating-system access (os.)"
_SUBPROCESS = "MEMO policy: runs other programs (subprocess.)"
_BUILTINS = "reaches the builtins module, hence exec/eval/open/__import__"
_IMPORT = "imports any module by name, hence os and subprocess"
_CLIMB = "climbs from an ordinary object to functions' globals and the builtins"
_FRAME = "frame/code introspection: reaches the globals and builtins of running code"
_PICKLE = "unpickling calls any importable callable (e.g. os.system)"
_EVAL_STR = "evaluates a string as Python code"
_ANNOT_EVAL = "evaluates annotation strings with eval()"

# Identifiers that may not appear as names at all (called, passed, assigned,
# imported or bound).  ``os``/``subprocess`` are here because MEMO's policy
# forbids the ``os.``/``subprocess.`` spellings even without an import.
_FORBIDDEN_NAMES: dict[str, str] = {
    "exec": _EXEC,
    "eval": _EXEC,
    "open": _OPEN,
    "compile": "builds code objects that exec/eval or a function constructor run",
    "__import__": _IMPORT,
    "globals": "returns the module namespace, which holds __builtins__",
    "locals": "returns a namespace that holds __builtins__ at module level",
    "vars": "returns an object's namespace (vars() is locals())",
    "breakpoint": "starts the debugger, an interactive exec",
    "help": "runs pydoc, whose pager can start another program",
    "os": _OS,
    "subprocess": _SUBPROCESS,
    "posix": _OS + " — the os module under its C name",
    "nt": _OS + " — the os module under its Windows name",
    "builtins": _BUILTINS,
    "__builtins__": _BUILTINS,
    "__builtin__": _BUILTINS,
    "importlib": _IMPORT,
    "__loader__": "the module's loader loads any module by name",
    "__spec__": "the module spec carries the loader, which loads any module",
}

# Functions that access an attribute named by a *string*: allowed only when
# called directly with literal names that pass the attribute rules.
_DYNAMIC_ATTRIBUTE_FUNCTIONS: dict[str, str] = {
    "getattr": "reads an attribute named by a string, which the guard cannot see unless literal",
    "setattr": "writes an attribute named by a string, which the guard cannot see unless literal",
    "delattr": "deletes an attribute named by a string, which the guard cannot see unless literal",
    "attrgetter": "operator.attrgetter reads attributes named by strings",
    "methodcaller": "operator.methodcaller calls a method named by a string",
}

# Modules (and all their submodules) that may not be imported or reached.
_FORBIDDEN_MODULES: dict[str, str] = {
    # the five, under every name
    "os": _OS,
    "posix": _OS + " — the os module under its C name",
    "nt": _OS + " — the os module under its Windows name",
    "posixpath": _OS + " — os.path; re-exports os",
    "ntpath": _OS + " — os.path; re-exports os",
    "genericpath": _OS + " — os.path; re-exports os",
    "subprocess": _SUBPROCESS,
    "_posixsubprocess": _SUBPROCESS,
    "_winapi": _SUBPROCESS,
    "msvcrt": _OS,
    "winreg": _OS,
    "pty": _SUBPROCESS + " — pty.spawn",
    "multiprocessing": _SUBPROCESS + " — starts interpreters, unpickles",
    "concurrent.futures.process": _SUBPROCESS,
    "asyncio.subprocess": _SUBPROCESS,
    "webbrowser": _SUBPROCESS + " — starts a browser program",
    "antigravity": _SUBPROCESS + " — opens a web browser",
    "pydoc": _SUBPROCESS + " — pipepager/tempfilepager run shell commands",
    "http.server": _OPEN + " — serves any directory, which the script can then fetch",
    "cgitb": _OPEN + " — writes reports to a log directory",
    "http.cookiejar": _OPEN + " — cookie jars load and save files by name",
    "xml.etree.ElementInclude": _OPEN + " — XInclude loads files by name",
    "pstats": "loads marshalled data from files by name",
    "tracemalloc": _PICKLE + " — Snapshot.load/dump pickle files by name",
    "tabnanny": _OPEN,
    "pyclbr": _OPEN + " — reads module sources",
    "zipapp": _OPEN,
    "asyncio.base_subprocess": _SUBPROCESS,
    "asyncio.unix_events": _SUBPROCESS,
    "asyncio.windows_events": _SUBPROCESS,
    "builtins": _BUILTINS,
    "__builtin__": _BUILTINS,
    "__main__": "the script's own module object; its namespace holds __builtins__",
    "_io": _OPEN + " — io under its C name",
    "_pyio": _OPEN + " — the pure-Python io",
    "pathlib": _OPEN + " — Path.open/read_text/write_text/unlink",
    "shutil": _OPEN + "; also copies, moves and deletes files",
    "tempfile": _OPEN + "; re-exports os (tempfile.os)",
    "fileinput": _OPEN,
    "linecache": _OPEN + " — linecache.getlines(path)",
    "glob": _OS + " — lists directories",
    "filecmp": _OPEN,
    "tarfile": _OPEN,
    "shelve": _OPEN + "; unpickles",
    "dbm": _OPEN,
    "sqlite3": _OPEN + " — sqlite3.connect(path) creates and reads files",
    "mailbox": _OPEN,
    "netrc": _OPEN,
    "py_compile": _OPEN + "; compiles files",
    "compileall": _OPEN + "; compiles files",
    "zipimport": _IMPORT,
    # the import machinery
    "importlib": _IMPORT,
    "imp": _IMPORT,
    "_imp": _IMPORT,
    "_frozen_importlib": _IMPORT,
    "_frozen_importlib_external": _IMPORT,
    "pkgutil": _IMPORT + " — pkgutil.resolve_name('os:system')",
    "modulefinder": _IMPORT,
    "runpy": _EXEC + " — runs modules and files",
    "site": _IMPORT + " — runs .pth files and sitecustomize",
    "ensurepip": _SUBPROCESS,
    "venv": _SUBPROCESS,
    "pip": _SUBPROCESS,
    "setuptools": _SUBPROCESS,
    "distutils": _SUBPROCESS,
    "unittest": _IMPORT + " — unittest.mock.patch resolves dotted names",
    "logging.config": _IMPORT + " — dictConfig resolves '()' factories by dotted name; listen() execs",
    # string executors
    "code": _EVAL_STR,
    "codeop": _EVAL_STR,
    "pdb": _EVAL_STR,
    "bdb": _EVAL_STR,
    "trace": _EVAL_STR,
    "timeit": _EVAL_STR,
    "cProfile": _EVAL_STR,
    "profile": _EVAL_STR,
    "doctest": _EVAL_STR,
    "rlcompleter": _EVAL_STR,
    "idlelib": _EVAL_STR,
    # introspection
    "inspect": _FRAME + "; inspect.get_annotations(eval_str=True) " + _ANNOT_EVAL,
    "gc": "gc.get_objects/get_referrers reach every live object, modules included",
    "ctypes": "calls C functions directly, e.g. libc system()",
    "_ctypes": "calls C functions directly, e.g. libc system()",
    "cffi": "calls C functions directly, e.g. libc system()",
    # (un)pickling
    "pickle": _PICKLE,
    "_pickle": _PICKLE,
    "cPickle": _PICKLE,
    "marshal": "loads code objects",
    "dill": _PICKLE,
    "cloudpickle": _PICKLE,
    "joblib": _PICKLE,
    # third-party process runners and annotation evaluators
    "pexpect": _SUBPROCESS,
    "sh": _SUBPROCESS,
    "plumbum": _SUBPROCESS,
    "psutil": _SUBPROCESS + " — psutil.Popen",
    "pydantic": _ANNOT_EVAL,
}

# Members that may not be used on otherwise allowed modules.  Keys may be
# dotted paths below a module (``sys.stdout.buffer``).
_MODULE_MEMBERS: dict[str, dict[str, str]] = {
    "sys": {
        "modules": "sys.modules holds every loaded module, os and builtins included",
        "_getframe": _FRAME,
        "_current_frames": _FRAME,
        "_current_exceptions": _FRAME,
        "_getframemodulename": _FRAME,
        "settrace": _FRAME,
        "setprofile": _FRAME,
        "monitoring": _FRAME,
        "meta_path": _IMPORT + " — import hooks",
        "path_hooks": _IMPORT + " — import hooks",
        "path_importer_cache": _IMPORT + " — importers load modules",
        "breakpointhook": "starts the debugger, an interactive exec",
        "remote_exec": _EXEC,
    },
    "sys.stdin.buffer": {"raw": "the raw stream is an io.FileIO, whose type opens files"},
    "sys.stdout.buffer": {"raw": "the raw stream is an io.FileIO, whose type opens files"},
    "sys.stderr.buffer": {"raw": "the raw stream is an io.FileIO, whose type opens files"},
    "io": {"open": _OPEN, "open_code": _OPEN, "FileIO": _OPEN},
    "codecs": {"open": _OPEN},
    "tokenize": {"open": _OPEN},
    "gzip": {"open": _OPEN, "GzipFile": _OPEN},
    "bz2": {"open": _OPEN, "BZ2File": _OPEN},
    "lzma": {"open": _OPEN, "LZMAFile": _OPEN},
    "zipfile": {"ZipFile": _OPEN, "PyZipFile": _OPEN, "Path": _OPEN, "main": _OPEN},
    "wave": {"open": _OPEN},
    "aifc": {"open": _OPEN},
    "sunau": {"open": _OPEN},
    "mimetypes": {"read_mime_types": _OPEN, "init": _OPEN, "MimeTypes": _OPEN},
    "imghdr": {"what": _OPEN},
    "sndhdr": {"what": _OPEN, "whathdr": _OPEN},
    "platform": {
        "libc_ver": _OPEN,
        "architecture": _SUBPROCESS + " — runs the file command",
        "popen": _SUBPROCESS,
    },
    "logging": {"FileHandler": _OPEN, "config": _IMPORT, "handlers": _OPEN},
    "xml.etree.ElementTree": {"parse": _OPEN + " — parse(path) opens the file", "iterparse": _OPEN},
    "xml.dom.minidom": {"parse": _OPEN + " — parse(path) opens the file"},
    "xml.dom.pulldom": {"parse": _OPEN + " — parse(path) opens the file"},
    "xml.sax": {"parse": _OPEN + " — parse(path) opens the file"},
    "xml.sax.handler": {
        "feature_external_ges": _OPEN + " — external entities read local files",
        "feature_external_pes": _OPEN + " — external entities read local files",
    },
    "asyncio": {
        "create_subprocess_exec": _SUBPROCESS,
        "create_subprocess_shell": _SUBPROCESS,
        "subprocess": _SUBPROCESS,
    },
    "concurrent.futures": {"ProcessPoolExecutor": _SUBPROCESS, "process": _SUBPROCESS},
    "types": {"CodeType": _EXEC, "FunctionType": _EXEC, "LambdaType": _EXEC},
    "typing": {
        "get_type_hints": _ANNOT_EVAL,
        "ForwardRef": _ANNOT_EVAL,
        "_eval_type": _ANNOT_EVAL,
        "evaluate_forward_ref": _ANNOT_EVAL,
    },
    "typing_extensions": {
        "get_type_hints": _ANNOT_EVAL,
        "ForwardRef": _ANNOT_EVAL,
        "evaluate_forward_ref": _ANNOT_EVAL,
    },
    "functools": {
        "singledispatch": "register() " + _ANNOT_EVAL + " (typing.get_type_hints)",
        "singledispatchmethod": "register() " + _ANNOT_EVAL + " (typing.get_type_hints)",
    },
    "attr": {"resolve_types": _ANNOT_EVAL},
    "attrs": {"resolve_types": _ANNOT_EVAL},
}

# Attribute names refused on *any* object: the guard cannot know an object's
# type, and these names exist only on frames, tracebacks, generators and code.
_FORBIDDEN_ATTRIBUTES: dict[str, str] = {
    "f_globals": _FRAME,
    "f_builtins": _FRAME,
    "f_locals": _FRAME,
    "f_back": _FRAME,
    "f_code": _FRAME,
    "tb_frame": _FRAME,
    "gi_frame": _FRAME,
    "gi_code": _FRAME,
    "cr_frame": _FRAME,
    "cr_code": _FRAME,
    "ag_frame": _FRAME,
    "ag_code": _FRAME,
    "func_globals": _CLIMB,
    "func_code": _CLIMB,
    "co_code": _FRAME,
    "CodeType": _EXEC,
    "FunctionType": _EXEC,
    "LambdaType": _EXEC,
    "load_module": _IMPORT + " — the loader protocol",
    "exec_module": _IMPORT + " — the loader protocol",
    "subprocess_exec": _SUBPROCESS + " — asyncio event loop",
    "subprocess_shell": _SUBPROCESS + " — asyncio event loop",
}

# Module names refused as attribute names on any object (leading underscores
# ignored): many standard modules re-export them (``tempfile.os``,
# ``random._os``, ``xml.etree.ElementTree.io``, ``codecs.builtins``).
_MODULE_ATTRIBUTE_NAMES: dict[str, str] = {
    name: "reaches the module %r through another module's namespace" % name
    for name in (
        "os", "posix", "nt", "posixpath", "ntpath", "sys", "io", "codecs",
        "subprocess", "builtins", "builtin", "importlib", "imp", "shutil",
        "tempfile", "pathlib", "ctypes", "pickle", "marshal", "linecache",
        "pty", "runpy", "inspect", "gc", "glob", "fileinput", "posixsubprocess",
    )
}

# Dunder names and attributes that are refused with a specific reason.  Any
# other dunder not in ALLOWED_DUNDERS is refused too, with a generic reason.
_FORBIDDEN_DUNDERS: dict[str, str] = {
    "__class__": _CLIMB + " (().__class__.__bases__[0].__subclasses__())",
    "__bases__": _CLIMB,
    "__base__": _CLIMB,
    "__mro__": _CLIMB,
    "__subclasses__": _CLIMB + " — lists every class, e.g. os._wrap_close",
    "__globals__": _CLIMB + " — a function's module namespace",
    "__code__": _FRAME,
    "__closure__": _CLIMB,
    "__builtins__": _BUILTINS,
    "__builtin__": _BUILTINS,
    "__import__": _IMPORT,
    "__loader__": _IMPORT,
    "__spec__": _IMPORT,
    "__dict__": _CLIMB + " — a module's __dict__ holds __builtins__",
    "__self__": _CLIMB + " — print.__self__ is the builtins module",
    "__func__": _CLIMB,
    "__getattribute__": "reads an attribute named by a string",
    "__getattr__": "reads an attribute named by a string",
    "__setattr__": "writes an attribute named by a string",
    "__delattr__": "deletes an attribute named by a string",
    "__reduce__": _PICKLE,
    "__reduce_ex__": _PICKLE,
    "__traceback__": _FRAME + " — traceback → tb_frame → f_globals",
    "__defaults__": _CLIMB,
    "__kwdefaults__": _CLIMB,
    "__annotations__": _ANNOT_EVAL + " by typing.get_type_hints",
    "__wrapped__": _CLIMB,
    "__build_class__": _EXEC,
    "__subclasshook__": _CLIMB,
    "__init_subclass__": _CLIMB,
}

# Dunders that ordinary report scripts use.  Defining dunder methods
# (``def __repr__``) is always allowed; this list governs *references*.
_ALLOWED_DUNDERS: frozenset[str] = frozenset(
    """
    __name__ __qualname__ __doc__ __module__ __file__ __debug__ __all__
    __version__ __author__ __slots__ __init__ __new__ __post_init__ __str__
    __repr__ __format__ __len__ __bool__ __iter__ __next__ __reversed__
    __contains__ __getitem__ __setitem__ __delitem__ __missing__ __enter__
    __exit__ __eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__ __add__
    __radd__ __iadd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__
    __floordiv__ __mod__ __neg__ __pos__ __abs__ __and__ __or__ __xor__
    __call__ __index__ __int__ __float__ __round__ __match_args__
    """.split()
)

# Packages written by MEMO users and checked by this same guard: their
# private (``_name``) members may be used across modules.
_TRUSTED_PACKAGES: frozenset[str] = frozenset({"sniplets", "queries"})


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Policy:
    """What the guard refuses.  Every entry maps a name to the reason shown.

    * ``forbidden_names`` — identifiers that may not appear as names.
    * ``dynamic_attribute_functions`` — ``getattr``-like functions, allowed
      only when called with literal attribute names that pass the rules.
    * ``forbidden_modules`` — modules (dotted) that may not be imported or
      reached; their submodules are refused too.
    * ``module_members`` — per-module forbidden members, ``{module: {member:
      reason}}``; keys may be dotted paths below a module.
    * ``forbidden_attributes`` — attribute names refused on any object.
    * ``module_attribute_names`` — module names refused as attributes of any
      object (leading underscores ignored).
    * ``forbidden_dunders`` — dunders refused with a specific reason;
      ``allowed_dunders`` — the only dunders a script may reference.
    * ``trusted_packages`` — MEMO's own packages (``sniplets``, ``queries``),
      checked by this guard, whose private members may be used.
    """

    forbidden_names: Mapping[str, str] = field(default_factory=lambda: _frozen(_FORBIDDEN_NAMES))
    dynamic_attribute_functions: Mapping[str, str] = field(
        default_factory=lambda: _frozen(_DYNAMIC_ATTRIBUTE_FUNCTIONS)
    )
    forbidden_modules: Mapping[str, str] = field(default_factory=lambda: _frozen(_FORBIDDEN_MODULES))
    module_members: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: _frozen({k: _frozen(v) for k, v in _MODULE_MEMBERS.items()})
    )
    forbidden_attributes: Mapping[str, str] = field(
        default_factory=lambda: _frozen(_FORBIDDEN_ATTRIBUTES)
    )
    module_attribute_names: Mapping[str, str] = field(
        default_factory=lambda: _frozen(_MODULE_ATTRIBUTE_NAMES)
    )
    forbidden_dunders: Mapping[str, str] = field(default_factory=lambda: _frozen(_FORBIDDEN_DUNDERS))
    allowed_dunders: frozenset[str] = _ALLOWED_DUNDERS
    trusted_packages: frozenset[str] = _TRUSTED_PACKAGES

    # -- derived look-ups, used by the visitor ---------------------------------
    def module_refusal(self, dotted: str) -> tuple[str, str] | None:
        """(forbidden module, reason) if ``dotted`` is it or lies below it."""
        modules = self.forbidden_modules
        if dotted in modules:
            return dotted, modules[dotted]
        pos = dotted.find(".")
        while pos != -1:
            prefix = dotted[:pos]
            if prefix in modules:
                return prefix, modules[prefix]
            pos = dotted.find(".", pos + 1)
        return None

    def is_trusted(self, dotted: str) -> bool:
        return dotted.startswith(".") or dotted.split(".", 1)[0] in self.trusted_packages

    def extended(self, extension: Mapping[str, Any], source: str = "policy file") -> "Policy":
        """A copy of this policy with the lists of ``extension`` added.

        See :func:`load_policy` for the format.  Raises ``ValueError``.
        """
        return _extend(self, extension, source)


def default_policy() -> Policy:
    """MEMO's policy: the five forbidden instructions and every known route to them."""
    return _DEFAULT


_DEFAULT = Policy()

_FLAT_KEYS = (
    "forbidden_names",
    "dynamic_attribute_functions",
    "forbidden_modules",
    "forbidden_attributes",
    "module_attribute_names",
    "forbidden_dunders",
)
_KNOWN_KEYS = frozenset(_FLAT_KEYS) | {"module_members", "trusted_packages", "description"}


def _names(value: Any, key: str, default_reason: str) -> dict[str, str]:
    """A list of names, or an object ``{name: reason}``, as ``{name: reason}``."""
    if isinstance(value, list):
        out = {}
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise ValueError(f"{key}: every entry must be a non-empty string, got {item!r}")
            out[item.strip()] = default_reason
        return out
    if isinstance(value, dict):
        out = {}
        for name, reason in value.items():
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"{key}: every name must be a non-empty string, got {name!r}")
            if not isinstance(reason, str):
                raise ValueError(f"{key}.{name}: the reason must be a string, got {reason!r}")
            out[name.strip()] = reason or default_reason
        return out
    raise ValueError(f"{key}: expected a list of names or an object {{name: reason}}, got {type(value).__name__}")


def _norm_keys(mapping: dict[str, str], dotted: bool) -> dict[str, str]:
    out = {}
    for name, reason in mapping.items():
        parts = name.split(".") if dotted else [name]
        if not all(p.isidentifier() for p in parts):
            raise ValueError(f"{name!r} is not a valid {'dotted name' if dotted else 'identifier'}")
        out[".".join(normalize(p) for p in parts)] = reason
    return out


def _extend(base: Policy, ext: Mapping[str, Any], source: str) -> Policy:
    if not isinstance(ext, Mapping):
        raise ValueError(f"{source}: the policy must be a JSON object, got {type(ext).__name__}")
    unknown = set(ext) - _KNOWN_KEYS
    if unknown:
        raise ValueError(
            f"{source}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"known keys are {', '.join(sorted(_KNOWN_KEYS))}"
        )
    reason = f"forbidden by the local policy ({source})"
    changes: dict[str, Any] = {}
    for key in _FLAT_KEYS:
        if key in ext:
            dotted = key == "forbidden_modules"
            added = _norm_keys(_names(ext[key], f"{source}: {key}", reason), dotted)
            merged = dict(getattr(base, key))
            merged.update(added)
            changes[key] = _frozen(merged)
    if "module_members" in ext:
        value = ext["module_members"]
        if not isinstance(value, dict):
            raise ValueError(f"{source}: module_members must be an object {{module: [members]}}")
        merged_mm = {k: dict(v) for k, v in base.module_members.items()}
        for module, members in value.items():
            (module_n,) = _norm_keys({module: ""}, dotted=True)
            added = _norm_keys(_names(members, f"{source}: module_members.{module}", reason), False)
            merged_mm.setdefault(module_n, {}).update(added)
        changes["module_members"] = _frozen({k: _frozen(v) for k, v in merged_mm.items()})
    if "trusted_packages" in ext:
        raise ValueError(
            f"{source}: trusted_packages cannot be changed by a policy file (it only extends forbidden lists)"
        )
    if "description" in ext and not isinstance(ext["description"], str):
        raise ValueError(f"{source}: description must be a string")
    return replace(base, **changes)


def load_policy(path: str | Path) -> Policy:
    """Read a JSON file that EXTENDS the default policy; return the result.

    The file is one JSON object.  Every key is optional; each adds entries to
    the default list of the same name (nothing can be removed or allowed)::

        {
          "description": "OAPEN: no network either",
          "forbidden_names": ["input"],
          "forbidden_modules": {"socket": "no network", "urllib.request": "no network"},
          "module_members": {"urllib.request": ["urlopen", "urlretrieve"]},
          "forbidden_attributes": ["raw"],
          "module_attribute_names": ["socket"],
          "forbidden_dunders": ["__wrapped__"],
          "dynamic_attribute_functions": ["attribute_of"]
        }

    A list value gives names (the reason shown is "forbidden by the local
    policy (<file>)"); an object value maps each name to its own reason.
    ``forbidden_modules`` and ``module_members`` keys are dotted module paths.
    Names are NFKC-normalised like identifiers.

    Raises ``ValueError`` with a clear message if the file cannot be read, is
    not JSON, has an unknown key or a value of the wrong shape.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read guard policy {p}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"guard policy {p} is not valid JSON: {exc}") from exc
    return _extend(_DEFAULT, data, str(p))


def policy_names() -> tuple[str, ...]:
    """The field names of :class:`Policy` (for documentation and tests)."""
    return tuple(f.name for f in fields(Policy))
