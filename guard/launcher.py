"""The Code Guard at run time: runs a MEMO script under a PEP 578 audit hook.

    python3 -I -B launcher.py --policy-json JSON --tree DIR [--stdout-file PATH] main.py

This file is bind-mounted read-only into the script's container (or run by the
process sandbox) and executed by the *image's* ``python3``: it imports nothing
of ours and nothing outside the standard library, and keeps to Python 3.8.

The static guard reads the text; this hook watches what the interpreter does,
however the script got there. When the script's own code (its files, or code it
made from a string) does something refused, the run ends at once (exit 77, one
``memo-guard: refused`` line on stderr that the runner turns into MEMO's
message); when a library the script called does, that call fails with
``PermissionError`` (``ImportError`` for an import), which libraries handle
(mysql.connector probes ``lsb_release``), and a ``refused in a library`` line
says so. Refused:

- ``open`` for writing anything but the script's own stdout/stderr, and for
  reading outside the tree and the Python installation;
- ``exec``/``eval``/``compile`` called by the script's own files (the stdlib's
  code generators, namedtuple and dataclasses, keep working: what their code
  does is watched like any other code);
- imports made by the script's own files outside the policy, and, from
  anywhere, of the few native modules whose functions are not audited
  (``_posixsubprocess``, sub-interpreters, the C test modules, ``_ctypes``);
- every other audit event not listed as harmless below (default-deny):
  ``os.system``, ``os.exec*``, ``os.posix_spawn``, ``os.fork``,
  ``subprocess.Popen``, ``ctypes.*``, ``marshal.loads`` of anything but the
  installation's own bytecode caches (crafted bytecode can do anything),
  ``code.__new__``, ``pickle.find_class``, ``sys.settrace``,
  ``sys.addaudithook``, ``gc.get_objects``, file removal and renames, ...

A hook cannot be removed from Python once added. The hook below is also made
hard to tamper with: it is reachable from no Python object (``gc`` introspection
is refused), it reads no global or builtin name at call time (everything it uses
is bound as a default argument when it is made), its data are frozensets and
tuples, and any failure inside it refuses. Tracing and profiling, which could
rewrite its locals, are refused.
"""

import os
import sys

EXIT_REFUSED = 77
"""Exit status of a refused run (sysexits.h's EX_NOPERM)."""
MARKER = "memo-guard: refused"
"""Start of the last stderr line of a refused run: MARKER \\t event \\t file \\t line \\t what."""
LIBRARY_MARKER = "memo-guard: refused in a library"
"""Start of a stderr line for an event a library raised and got an error for (same fields)."""

_WRITE_FLAGS = (
    os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_EXCL | getattr(os, "O_TMPFILE", 0)
)

HARMLESS_EVENTS = frozenset({
    # Introspection the stdlib does all the time; frames give the hook's attacker
    # nothing, as the hook holds nothing mutable or reachable.
    "object.__getattr__", "object.__setattr__", "object.__delattr__",
    "sys._getframe", "sys._current_frames", "sys._current_exceptions",
    "builtins.id", "function.__new__", "array.__new__",
    "sys.excepthook", "sys.unraisablehook",
    "sys.set_asyncgen_hooks_firstiter", "sys.set_asyncgen_hooks_finalizer",
    "time.sleep", "os.putenv", "os.unsetenv", "glob.glob", "glob.glob/2",
    # The network: the container's namespace decides what it reaches.
    "http.client.connect", "http.client.send", "urllib.Request",
    # The interpreter starting and ending.
    "cpython.run_command", "cpython.run_file", "cpython.run_module", "cpython.run_startup",
    "cpython.run_stdin", "cpython.run_interactivehook", "cpython._PySys_ClearAuditHooks",
    "cpython.PyInterpreterState_Clear",
})
HARMLESS_PREFIXES = ("socket.",)

FATAL_EVENTS = frozenset({
    # Ways to take the hook apart or to make code the hook cannot vouch for: whoever
    # raises them (a library has no business doing so in a report script), the run ends.
    "sys.settrace", "sys.setprofile", "sys.addaudithook", "gc.get_objects", "gc.get_referrers",
    "gc.get_referents", "code.__new__", "marshal.loads", "marshal.load", "pickle.find_class",
})

ALWAYS_REFUSED_IMPORTS = frozenset({
    # Native modules whose functions raise no audit event of their own.
    "_posixsubprocess",  # fork_exec runs a program; subprocess imports it once, before the hook
    "_xxsubinterpreters", "_xxinterpchannels", "_interpreters", "_interpchannels", "_interpqueues",
    "_testcapi", "_testinternalcapi", "_testmultiphase", "_testsinglephase", "_testbuffer",
    "_testimportmultiple", "_testclinic", "_ctypes", "_ctypes_test", "_posixshmem",
})


def _parse_args(argv):
    opts = {"--policy-json": None, "--tree": None, "--stdout-file": None}
    rest = list(argv)
    while rest and rest[0] in opts:
        if len(rest) < 2:
            break
        opts[rest[0]] = rest[1]
        rest = rest[2:]
    if opts["--policy-json"] is None or opts["--tree"] is None or len(rest) != 1:
        sys.stderr.write("usage: launcher.py --policy-json JSON --tree DIR [--stdout-file PATH] ENTRY\n")
        raise SystemExit(2)
    return opts, rest[0]


def _norm(path, cwd):
    """An absolute, lexically normalised path (no symlink reads: the hook must not open files)."""
    if not path.startswith("/"):
        path = cwd + "/" + path
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def _read_roots(tree, extra):
    """Folders the script may read: its tree, the Python installation, the policy's extras
    (and this file, which tracebacks through the hook quote)."""
    cwd = os.getcwd()
    roots = {tree, _norm(os.path.dirname(os.__file__), cwd), _norm(__file__, cwd)}
    for entry in sys.path:
        if entry:
            roots.add(_norm(entry, cwd))
    for entry in extra:
        roots.add(_norm(entry, cwd))
    roots.discard("/")  # never the whole filesystem
    return tuple(sorted(r.rstrip("/") + "/" for r in roots))


def _neutralise_fork_exec():
    """Import subprocess now (mysql.connector does at import) and take away its engine.

    ``_posixsubprocess.fork_exec`` starts programs without raising an audit event
    of its own; ``subprocess.Popen`` raises one first, which the hook refuses,
    but the function itself must not be reachable either. Re-importing the module
    to get a fresh one is refused by the hook (``ALWAYS_REFUSED_IMPORTS``).
    """
    import subprocess
    import _posixsubprocess

    def fork_exec(*args, _audit=sys.audit, **kwargs):
        _audit("_posixsubprocess.fork_exec")
        raise OSError("refused")

    _posixsubprocess.fork_exec = fork_exec
    subprocess._fork_exec = fork_exec


def _make_hook(tree, roots, modules):
    """The audit hook. Everything it touches is a default argument (see the module docstring)."""
    tree_prefix = tree.rstrip("/") + "/"

    def hook(event, args, _harmless=HARMLESS_EVENTS, _harmless_prefixes=HARMLESS_PREFIXES,
             _write=_WRITE_FLAGS, _type=type, _int=int, _repr=repr, _BaseException=BaseException):
        if event in _harmless:
            return
        try:
            what = None
            if event.startswith(_harmless_prefixes):
                return
            elif event == "open":
                path, mode, flags = args
                writing = _type(flags) is _int and flags & _write
                if _type(path) is _int:
                    if writing and path not in (1, 2):
                        what = "open() for writing file descriptor %d" % path
                elif writing:
                    if path != "/dev/null" and path != b"/dev/null":  # platform.py, getpass, ...
                        what = "open() for writing %s" % _repr(path)
                else:
                    where = _path_outside(path)
                    if where is not None:
                        what = "open() for reading %s outside the script's tree" % _repr(where)
            elif event == "os.listdir" or event == "os.scandir":
                path = args[0]
                if path is not None and _type(path) is not _int:
                    where = _path_outside(path)
                    if where is not None:
                        what = "%s() of %s outside the script's tree" % (event, _repr(where))
            elif event == "import":
                what = _import_problem(args[0], args[1])
            elif event == "marshal.loads":
                if not _cached_bytecode(args[0]):
                    what = "marshal.loads() of bytes that are no bytecode cache of the installation"
            elif event == "exec":
                if _from_tree():
                    what = "exec()/eval() of a code object"
            elif event == "compile":
                if _from_tree():
                    what = "exec()/eval()/compile() of a string"
            else:
                what = event + "()"
            if what is None:
                return
        except _BaseException:
            what = event + " (the run-time guard could not judge it)"
        _refuse(event, what)

    def _path_outside(path, _type=type, _str=str, _bytes=bytes, _decode=bytes.decode,
                      _fspath=os.fspath, _getcwd=os.getcwd, _norm=_norm, _roots=roots):
        """The normalised path if it is outside every read root, else None."""
        if _type(path) is _bytes:
            path = _decode(path, "utf-8", "surrogateescape")
        elif _type(path) is not _str:
            path = _fspath(path)  # a path object: its value as open() saw it, modulo a race
            if _type(path) is _bytes:
                path = _decode(path, "utf-8", "surrogateescape")
        full = _norm(path, _getcwd())
        if (full + "/").startswith(_roots):
            return None
        return full

    def _from_tree(_getframe=sys._getframe, _tree=tree_prefix):
        """Whether the code that raised the event is the script's: its files, or code made from a string."""
        name = _getframe(2).f_code.co_filename  # 0: here, 1: the hook, 2: the code that raised it
        return name.startswith(_tree) or (name.startswith("<") and not name.startswith("<frozen"))

    def _cached_bytecode(data, _getframe=sys._getframe, _type=type, _str=str, _bytes=bytes,
                         _open=os.open, _read=os.read, _close=os.close, _rdonly=os.O_RDONLY,
                         _OSError=OSError):
        """Whether ``data`` is what the import system read from a bytecode cache (.pyc).

        Code objects built from arbitrary bytes can do anything the interpreter can;
        those of the installation's own caches are as safe as its sources.
        """
        frame = _getframe(2)
        code = frame.f_code
        if code.co_name != "_compile_bytecode" or code.co_filename != "<frozen importlib._bootstrap_external>":
            return False
        path = frame.f_locals.get("bytecode_path")
        if _type(path) is not _str or not path.endswith(".pyc") or _type(data) is not _bytes:
            return False
        if _path_outside(path) is not None:
            return False
        try:
            fd = _open(path, _rdonly)
        except _OSError:
            return False
        try:
            chunks = []
            while True:
                chunk = _read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            _close(fd)
        return b"".join(chunks)[16:] == data

    def _import_problem(name, filename, _refused=ALWAYS_REFUSED_IMPORTS, _modules=frozenset(modules),
                        _getframe=sys._getframe, _tree=tree_prefix, _type=type, _str=str):
        if _type(name) is not _str:
            return "import of %r" % (name,)
        if name in _refused:
            return "import %s" % name
        if filename is not None:
            where = _path_outside(filename)
            if where is not None:
                return "import %s from %r outside the script's tree" % (name, where)
            return None
        frame = _getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
            frame = frame.f_back
        name_of = frame.f_code.co_filename if frame is not None else ""
        if not (name_of.startswith(_tree) or (name_of.startswith("<") and not name_of.startswith("<frozen"))):
            return None  # a library importing what it needs
        if name in _modules or name.split(".", 1)[0] in ("queries", "sniplets"):
            return None
        prefix = name + "."
        for allowed in _modules:  # a parent package of an allowed module (xml for xml.dom)
            if allowed.startswith(prefix):
                return None
        return "import %s" % name

    def _refuse(event, what, _getframe=sys._getframe, _tree=tree_prefix, _write_fd=os.write,
                _exit=os._exit, _exit_code=EXIT_REFUSED, _marker=MARKER, _library_marker=LIBRARY_MARKER,
                _len=len, _PermissionError=PermissionError, _ImportError=ImportError,
                _fatal=FATAL_EVENTS):
        """Refuse the event: end the run if the script's code raised it, else fail the call.

        The script's own files (and code it made from strings) get no second chance:
        the process ends at once, which nothing can catch. A library that tries
        something refused (mysql.connector probes ``lsb_release``) gets an error it
        knows how to handle: ``ImportError`` for an import, ``PermissionError``
        otherwise, with a note on stderr.
        """
        file, line, by_script = "", 0, True
        try:
            frame = _getframe(2)
            name = frame.f_code.co_filename
            by_script = (name.startswith(_tree) or (name.startswith("<") and not name.startswith("<frozen"))
                         or event in _fatal or event.startswith("ctypes."))
            if not name.startswith(_tree):
                what = "%s (in %s:%d)" % (what, name, frame.f_lineno)
            depth = 0
            while frame is not None and depth < 200:
                name = frame.f_code.co_filename
                if name.startswith(_tree):
                    file, line = name[_len(_tree):], frame.f_lineno
                    break
                frame = frame.f_back
                depth += 1
            text = "\n%s\t%s\t%s\t%d\t%s\n" % (
                _marker if by_script else _library_marker, event, file, line, what[:400])
            _write_fd(2, text.replace("\r", " ").encode("utf-8", "replace"))
        finally:
            if by_script:
                _exit(_exit_code)
        if event == "import":
            raise _ImportError("memo-guard refused: " + what)
        raise _PermissionError("memo-guard refused: " + what)

    return hook


def _run_as_main(code, path, entry):
    """Run the script's code as ``__main__``, as ``python3 main.py`` would."""
    module = type(sys)("__main__")
    module.__file__ = path
    module.__cached__ = None
    module.__builtins__ = sys.modules["builtins"]
    sys.modules["__main__"] = module
    sys.argv[:] = [entry]
    try:
        exec(code, module.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        # The traceback the script would have had: without this launcher's frame.
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        raise SystemExit(130 if isinstance(exc, KeyboardInterrupt) else 1)


def main(argv):
    import json

    opts, entry = _parse_args(argv)
    policy = json.loads(opts["--policy-json"])
    if opts["--stdout-file"]:
        fd = os.open(opts["--stdout-file"], os.O_WRONLY | os.O_TRUNC)
        os.dup2(fd, 1)
        os.close(fd)
    cwd = os.getcwd()
    tree = _norm(opts["--tree"], cwd)
    path = _norm(entry, tree)
    with open(path, "rb") as f:
        source = f.read()
    try:
        code = compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        sys.excepthook(SyntaxError, exc.with_traceback(None), None)  # as python3 prints it: file, line, caret
        raise SystemExit(1)
    _neutralise_fork_exec()
    sys.path.insert(0, tree)
    sys.dont_write_bytecode = True
    roots = _read_roots(tree, policy.get("read", ()))
    sys.addaudithook(_make_hook(tree, roots, policy.get("modules", ())))
    _run_as_main(code, path, entry)


if __name__ == "__main__":
    main(sys.argv[1:])
