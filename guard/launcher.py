"""The Code Guard at run time: runs a MEMO script under a PEP 578 audit hook and a kernel filter.

    python3 -I -B launcher.py --policy POLICY --tree DIR [--nonce N] [--stdout-file PATH] main.py

This file is bind-mounted read-only into the script's container (or run by the
process sandbox) and executed by the *image's* ``python3``: it imports nothing
of ours and nothing outside the standard library, and keeps to Python 3.8.

The static guard reads the text; this launcher watches what the interpreter does,
however the script got there. When the script's own code (its files, or code it
made from a string) does something refused, the run ends at once (exit 77, one
``memo-guard: refused`` line on stderr that the runner turns into MEMO's
message); when a library the script called does, that call fails with
``PermissionError`` (``ImportError`` for an import), which libraries handle
(mysql.connector probes ``lsb_release`` at every connect), and a ``refused in a
library`` line says so. Refused:

- ``open`` for writing anything but stdout, stderr and /dev/null, and for
  reading outside the tree, the Python installation and a few system files;
- ``exec``/``eval``/``compile`` called by the script's own code (the stdlib's
  code generators, namedtuple and dataclasses, keep working: what their code
  does is watched like any other code);
- imports by the script's own code outside the policy; native (extension)
  modules outside the policy's list, whoever loads them; and a few native
  modules whose functions raise no audit event (``ALWAYS_REFUSED_IMPORTS``);
- every other audit event not listed as harmless (default-deny): ``os.system``,
  ``os.exec*``, ``os.posix_spawn``, ``os.fork``, ``subprocess.Popen``,
  ``ctypes.*``, ``marshal.loads`` of anything but the installation's own
  bytecode caches, ``code.__new__``, ``pickle.find_class``, ``sys.settrace``,
  ``sys.addaudithook``, ``gc.get_objects``, file removal and renames, ...

Python cannot hide a capability from Python, and not every C function raises
an audit event (``_imp.create_builtin`` hands out a fresh ``_posixsubprocess``,
whose ``fork_exec`` runs programs unaudited). So before the hook, the launcher
installs a **seccomp filter** in the kernel: no program can be started
(``execve``), no file created, removed, renamed or linked other than by
``open`` (which the hook judges), no ``ptrace``, no io_uring, no new
namespaces, whatever Python does.

The hook itself is made hard to tamper with: it is reachable from no Python
object (``gc`` introspection is refused); it and its helpers read no global or
builtin name at call time and close over nothing (everything they use is a
default argument, bound when they are made); their code and defaults cannot be
replaced (refused); their data are frozensets and tuples; they never call a
method of an object the script made (paths and names must be exact ``str``,
``bytes`` or ``int``); and any failure inside them refuses. Tracing and
profiling, which could rewrite their locals, are refused. The interpreter's
last phase, after it clears audit hooks, never runs: the hook ends the
process with the run's status when that phase begins.
"""

import os
import sys

EXIT_REFUSED = 77
"""Exit status of a refused run (sysexits.h's EX_NOPERM)."""
MARKER = "memo-guard: refused"
"""Start of the last stderr line of a refused run: MARKER \\t nonce \\t event \\t file \\t line \\t what."""
LIBRARY_MARKER = "memo-guard: refused in a library"
"""Start of a stderr line for an event a library raised and got an error for (same fields)."""
EXIT_UNAVAILABLE = 78
"""Exit status when the guard cannot be set up in this image (sysexits.h's EX_CONFIG)."""
UNAVAILABLE_MARKER = "memo-guard: unavailable"
"""Start of the last stderr line then: MARKER \\t reason."""

HARMLESS_EVENTS = frozenset({
    # Introspection the stdlib does all the time; frames give an attacker nothing,
    # as the hook holds nothing mutable or replaceable.
    "object.__getattr__", "object.__delattr__",
    "sys._getframe", "sys._current_frames", "sys._current_exceptions",
    "builtins.id", "function.__new__", "array.__new__",
    "sys.excepthook", "sys.unraisablehook",
    "sys.set_asyncgen_hooks_firstiter", "sys.set_asyncgen_hooks_finalizer",
    "time.sleep", "glob.glob", "glob.glob/2",
    # The network: the container's namespace decides what it reaches.
    "http.client.connect", "http.client.send", "urllib.Request",
    # The interpreter starting and ending.
    "cpython.run_command", "cpython.run_file", "cpython.run_module", "cpython.run_startup",
    "cpython.run_stdin", "cpython.run_interactivehook",
})
HARMLESS_PREFIXES = ("socket.",)

FATAL_EVENTS = frozenset({
    # Ways to take the hook apart or to make code it cannot vouch for: whoever
    # raises them (a library has no business doing so in a report script), the run ends.
    "sys.settrace", "sys.setprofile", "sys.addaudithook", "gc.get_objects", "gc.get_referrers",
    "gc.get_referents", "code.__new__", "marshal.loads", "marshal.load", "pickle.find_class",
    "object.__setattr__",  # only when it would replace a helper's code or defaults (see the hook)
})

PROTECTED_FUNCTION_ATTRIBUTES = frozenset({"__code__", "__defaults__", "__kwdefaults__"})
"""What nobody may set on the hook's helpers (namedtuple sets ``__defaults__`` on its own functions)."""

ALWAYS_REFUSED_IMPORTS = frozenset({
    # Native modules whose functions raise no audit event of their own.
    "_posixsubprocess",  # fork_exec runs a program; subprocess imports it once, before the hook
    "_xxsubinterpreters", "_xxinterpchannels", "_interpreters", "_interpchannels", "_interpqueues",
    "_testcapi", "_testinternalcapi", "_testmultiphase", "_testsinglephase", "_testbuffer",
    "_testimportmultiple", "_testclinic", "_ctypes", "_ctypes_test", "_posixshmem",
})

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_EXCL
_TMPFILE = getattr(os, "O_TMPFILE", 0)
"""O_TMPFILE holds O_DIRECTORY's bit: a directory opened to read is not a temporary file."""


def _parse_args(argv):
    opts = {"--policy": None, "--tree": None, "--stdout-file": None, "--nonce": ""}
    rest = list(argv)
    while rest and rest[0] in opts:
        if len(rest) < 2:
            break
        opts[rest[0]] = rest[1]
        rest = rest[2:]
    if opts["--policy"] is None or opts["--tree"] is None or len(rest) != 1:
        sys.stderr.write("usage: launcher.py --policy POLICY --tree DIR [--stdout-file PATH] ENTRY\n")
        raise SystemExit(2)
    return opts, rest[0]


def _norm(path, cwd):
    """An absolute, lexically normalised path (no symlink reads: the hook must not open files).

    Only ``str`` methods on exact ``str`` objects: the hook calls it."""
    if not path.startswith("/"):
        path = cwd + "/" + path
    parts = []
    for part in path.split("/"):
        if part == "" or part == ".":
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


# --- the kernel filter ----------------------------------------------------------------------

_SYSCALLS = {
    # name: (x86_64, aarch64); absent on an architecture: None
    "execve": (59, 221), "execveat": (322, 281), "ptrace": (101, 117),
    "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "mknod": (133, None), "mknodat": (259, 33), "mkdir": (83, None), "mkdirat": (258, 34),
    "rmdir": (84, None), "unlink": (87, None), "unlinkat": (263, 35),
    "rename": (82, None), "renameat": (264, 38), "renameat2": (316, 276),
    "link": (86, None), "linkat": (265, 37), "symlink": (88, None), "symlinkat": (266, 36),
    "creat": (85, None), "truncate": (76, 45), "chmod": (90, None), "fchmod": (91, 52),
    "fchmodat": (268, 53), "chown": (92, None), "fchown": (93, 55), "lchown": (94, None),
    "fchownat": (260, 54), "utime": (132, None), "utimes": (235, None), "utimensat": (280, 88),
    "futimesat": (261, None), "setxattr": (188, 5), "lsetxattr": (189, 6), "fsetxattr": (190, 7),
    "removexattr": (197, 14), "lremovexattr": (198, 15), "fremovexattr": (199, 16),
    "bind": (49, 200), "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41),
    "chroot": (161, 51), "unshare": (272, 97), "setns": (308, 268), "keyctl": (250, 219),
    "add_key": (248, 217), "request_key": (249, 218), "bpf": (321, 280), "userfaultfd": (323, 282),
    "perf_event_open": (298, 241), "name_to_handle_at": (303, 264), "open_by_handle_at": (304, 265),
    "memfd_create": (319, 279),  # an anonymous file to dlopen a native payload from (red team, round 2)
}
"""Refused by the kernel filter: starting programs, changing the file tree other than by
``open`` (which the hook judges), reaching other processes, and the kernel's bigger doors."""
_NOT_IMPLEMENTED = {"clone3": (435, 435), "openat2": (437, 437)}
"""Answered ENOSYS (their arguments are structs the filter cannot read; libc falls back to
``clone``/``openat``, which it can)."""
_CLONE_NAMESPACES = 0x7E020080  # CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET} | CLONE_NEWTIME
_CLONE = (56, 220)
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}


def _kernel_filter_program(machine):
    """The seccomp BPF program for ``machine`` (``x86_64`` or ``aarch64``), as bytes."""
    import struct

    index = {"x86_64": 0, "aarch64": 1}[machine]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | 1, 0x00050000 | 38

    def op(code, k, jt=0, jf=0):
        return struct.pack("=HBBI", code, jt, jf, k)

    refused = sorted(n[index] for n in _SYSCALLS.values() if n[index] is not None)
    missing = sorted(n[index] for n in _NOT_IMPLEMENTED.values())
    prog = [op(ld, 4), op(jeq, _AUDIT_ARCH[machine], 1, 0), op(ret, kill), op(ld, 0)]
    if machine == "x86_64":
        prog += [op(jge, 0x40000000, 0, 1), op(ret, eperm)]  # the x32 ABI: another way in
    for nr in refused:
        prog += [op(jeq, nr, 0, 1), op(ret, eperm)]
    for nr in missing:
        prog += [op(jeq, nr, 0, 1), op(ret, enosys)]
    # clone (threads are clone too): refused when it asks for a new namespace
    prog += [op(jeq, _CLONE[index], 0, 3), op(ld, 16), op(jset, _CLONE_NAMESPACES, 0, 1), op(ret, eperm)]
    prog += [op(ret, allow)]
    return b"".join(prog)


def _install_kernel_filter():
    """Install the seccomp filter in this (still single-threaded) process; a reason if not."""
    machine = os.uname().machine
    if machine not in _AUDIT_ARCH:
        return "no kernel filter for the %s architecture" % machine
    try:
        import ctypes
    except ImportError as exc:
        return "the image's python3 has no ctypes (%s)" % exc
    program = _kernel_filter_program(machine)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    code = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(code, ctypes.c_void_p))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return "prctl(PR_SET_NO_NEW_PRIVS): %s" % os.strerror(ctypes.get_errno())
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        return "prctl(PR_SET_SECCOMP): %s" % os.strerror(ctypes.get_errno())
    del code, fprog, libc, SockFprog
    return None


def _forget_ctypes():
    """Nothing of ctypes may outlive the filter: its objects give raw memory access unaudited.

    Off ``sys.modules``, then a full collection, so that no launcher-made ctypes object is
    left as garbage for ``gc.DEBUG_SAVEALL`` to hand out later.
    """
    import gc

    for name in [n for n in sys.modules if n == "ctypes" or n.startswith("ctypes.") or n == "_ctypes"]:
        del sys.modules[name]
    gc.collect()


def _neutralise_fork_exec():
    """Import subprocess now (mysql.connector does at import) and take away its engine.

    ``_posixsubprocess.fork_exec`` starts programs without raising an audit event
    of its own; ``subprocess.Popen`` raises one first, which the hook refuses. The
    kernel filter makes any program start fail anyway; this keeps the message clear.
    """
    import subprocess
    import _posixsubprocess

    def fork_exec(*args, _audit=sys.audit, **kwargs):
        _audit("_posixsubprocess.fork_exec")
        raise PermissionError("refused")

    _posixsubprocess.fork_exec = fork_exec
    subprocess._fork_exec = fork_exec


# --- the audit hook ---------------------------------------------------------------------------

def _make_hook(tree, roots, modules, extensions, status, nonce):
    """The audit hook and its helpers: no free variables, every dependency a default.

    Args:
        tree: the script's folder; roots: the folders it may read (``"/x/"`` strings);
        modules: what its files may import; extensions: the native modules anyone may
        load; status: a one-item list holding the run's exit status once known; nonce: the
        run's secret that proves a refusal line is the launcher's (a script could print one).
    """
    tree = tree.rstrip("/") + "/"
    modules = frozenset(modules)
    extensions = frozenset(extensions)

    def frame_at(depth, _getframe=sys._getframe, _ValueError=ValueError):
        """The frame ``depth`` levels above the caller, or None (the interpreter itself, at exit)."""
        try:
            return _getframe(depth + 1)
        except _ValueError:
            return None

    def script_code(name, _tree=tree):
        """Whether a code object's file name is the script's: its files, or code it made from a string."""
        return name.startswith(_tree) or (name.startswith("<") and not name.startswith("<frozen"))

    def outside(path, _type=type, _str=str, _bytes=bytes, _decode=bytes.decode, _getcwd=os.getcwd,
                _norm=_norm, _roots=roots, _direntry=os.DirEntry, _fspath=os.DirEntry.__fspath__):
        """The normalised path if it is outside every read root, else None; a path of any type
        but exact str, bytes or os.DirEntry is outside (its methods could lie)."""
        if _type(path) is _direntry:
            path = _fspath(path)
        if _type(path) is _bytes:
            path = _decode(path, "utf-8", "surrogateescape")
        elif _type(path) is not _str:
            return "<a path object of another type>"
        full = _norm(path, _getcwd())
        if (full + "/").startswith(_roots):
            return None
        return full

    def from_script(_frame_at=frame_at, _script_code=script_code):
        """Whether the code that raised the event is the script's (0 here, 1 judge, 2 the hook, 3 it)."""
        frame = _frame_at(3)
        return frame is not None and _script_code(frame.f_code.co_filename)

    def file_holds(path, data, skip=None, _type=type, _bytes=bytes, _open=os.open, _read=os.read,
                   _close=os.close, _rdonly=os.O_RDONLY, _OSError=OSError, _outside=outside):
        """Whether the file at ``path`` (in the read roots) holds ``data``: exactly, after ``skip``
        bytes; or, without ``skip``, anywhere in it (tracebacks compile a line of a file to place
        their carets)."""
        if _type(data) is not _bytes or _outside(path) is not None:
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
        content = b"".join(chunks)
        return content[skip:] == data if skip is not None else data in content

    def cached_bytecode(data, _frame_at=frame_at, _type=type, _str=str, _bytes=bytes, _file_holds=file_holds):
        """Whether ``data`` is what the import system read from the installation's .pyc file:
        code objects made of arbitrary bytes can do anything; those of its caches are its sources'."""
        frame = _frame_at(3)  # 0 here, 1 judge, 2 the hook, 3 the import system's _compile_bytecode
        if frame is None:
            return False
        code = frame.f_code
        if code.co_name != "_compile_bytecode" or code.co_filename != "<frozen importlib._bootstrap_external>":
            return False
        path = frame.f_locals.get("bytecode_path")
        if _type(path) is not _str or _type(data) is not _bytes or not path.endswith(".pyc"):
            return False
        return _file_holds(path, data, 16)  # after the .pyc header

    def import_problem(name, filename, _type=type, _str=str, _refused=ALWAYS_REFUSED_IMPORTS,
                       _modules=modules, _extensions=extensions, _frame_at=frame_at,
                       _script_code=script_code, _outside=outside):
        """Why this import is refused, or None."""
        if _type(name) is not _str:
            return "import of a module name that is not a str"
        if name in _refused:
            return "import %s" % name
        if filename is not None:  # a native module being loaded, by whoever
            if name not in _extensions:
                return "import of the native module %s" % name
            where = _outside(filename)
            if where is not None:
                return "import %s from %r outside the script's tree" % (name, where)
            return None
        frame = _frame_at(3)  # 0 here, 1 judge, 2 the hook, 3 what imports
        while frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
            frame = frame.f_back
        if frame is None or not _script_code(frame.f_code.co_filename):
            return None  # a library importing what it needs
        if name in _modules or name.partition(".")[0] in ("queries", "sniplets"):
            return None
        prefix = name + "."
        for allowed in _modules:  # a parent package of an allowed module (xml for xml.dom)
            if allowed.startswith(prefix):
                return None
        return "import %s" % name

    def refuse(event, what, _frame_at=frame_at, _tree=tree, _write_fd=os.write, _exit=os._exit,
               _exit_code=EXIT_REFUSED, _marker=MARKER, _library_marker=LIBRARY_MARKER, _len=len,
               _PermissionError=PermissionError, _ImportError=ImportError, _fatal=FATAL_EVENTS,
               _script_code=script_code, _nonce=nonce,
               _fallback=("\n%s\t%s\t?\t\t0\tan action the run-time guard could not even report "
                          "(the stack or the memory ran out)\n" % (MARKER, nonce)).encode()):
        """Refuse the event: end the run if the script's code raised it, else fail the call.

        The script's own code gets no second chance: the process ends at once, which
        nothing can catch. A library that tries something refused gets an error it
        knows how to handle: ``ImportError`` for an import, ``PermissionError`` otherwise.
        """
        file, line, by_script, written = "", 0, True, False
        try:
            frame = _frame_at(2)  # 0 here, 1 the hook, 2 the code that raised the event
            name = frame.f_code.co_filename if frame is not None else "<the interpreter>"
            by_script = _script_code(name) or event in _fatal or event.startswith("ctypes.")
            if frame is None:
                what = "%s (by the interpreter itself)" % what
            elif not name.startswith(_tree):
                what = "%s (in %s:%d)" % (what, name, frame.f_lineno)
            depth = 0
            while frame is not None and depth < 200:
                name = frame.f_code.co_filename
                if name.startswith(_tree):
                    file, line = name[_len(_tree):], frame.f_lineno
                    break
                frame = frame.f_back
                depth += 1
            if by_script or event != "import":  # a library's optional import (a C speed-up) is no news
                text = "\n%s\t%s\t%s\t%s\t%d\t%s\n" % (
                    _marker if by_script else _library_marker, _nonce, event, file, line, what[:400])
                _write_fd(2, text.replace("\r", " ").encode("utf-8", "replace"))
            written = True
        finally:
            if by_script:
                if not written:  # the stack or the memory ran out while reporting
                    try:
                        _write_fd(2, _fallback)
                    finally:
                        _exit(_exit_code)
                _exit(_exit_code)
        if event == "import":
            raise _ImportError("memo-guard refused: " + what)
        raise _PermissionError("memo-guard refused: " + what)

    helpers = frozenset(id(f) for f in (_norm, frame_at, script_code, outside, from_script, file_holds,
                                        cached_bytecode, import_problem, refuse))

    def judge(event, args, _type=type, _int=int, _str=str, _bytes=bytes, _repr=repr, _id=id,
              _write=_WRITE_FLAGS, _tmpfile=_TMPFILE, _helpers=helpers, _protected=PROTECTED_FUNCTION_ATTRIBUTES,
              _outside=outside, _import_problem=import_problem, _from_script=from_script,
              _cached_bytecode=cached_bytecode, _file_holds=file_holds):
        """What is refused about this event, or None (``what`` as the message shows it)."""
        if event == "open":
            path, mode, flags = args
            writing = (_type(flags) is _int and (flags & _write or (_tmpfile and flags & _tmpfile == _tmpfile))) or (
                _type(mode) is _str and ("w" in mode or "a" in mode or "x" in mode or "+" in mode))
            if _type(path) is _int:
                if writing and path not in (1, 2):
                    return "open() for writing file descriptor %d" % path
                return None
            if writing:
                if _type(path) is not _str and _type(path) is not _bytes:
                    return "open() for writing a path object"
                if path == "/dev/null" or path == b"/dev/null":  # platform.py, getpass, ...
                    return None
                return "open() for writing %s" % _repr(path)
            where = _outside(path)
            return None if where is None else "open() for reading %s outside the script's tree" % _repr(where)
        if event == "os.listdir" or event == "os.scandir" or event == "os.walk" or event == "os.fwalk":
            path = args[0]
            if path is None or _type(path) is _int:
                return None
            where = _outside(path)
            return None if where is None else "%s() of %s outside the script's tree" % (event, _repr(where))
        if event == "import":
            return _import_problem(args[0], args[1])
        if event == "exec":
            return "exec()/eval() of a code object" if _from_script() else None
        if event == "compile":
            if _from_script():
                return "exec()/eval()/compile() of a string"
            source, filename = args
            if _type(filename) is _str and not filename.startswith("<") and not _file_holds(filename, source):
                # the import system compiles a file's own bytes; other text compiled under a
                # file's name would run as if it were that library's code (red team, round 2)
                return "compile() of text named as the file %s" % _repr(filename)
            return None
        if event == "marshal.loads":
            ok = _cached_bytecode(args[0])
            return None if ok else "marshal.loads() of bytes that are no bytecode cache of the installation"
        if event == "object.__setattr__":
            name = args[1]
            if _type(name) is not _str:
                return "setattr() with a name that is not a str"
            if name in _protected and _id(args[0]) in _helpers:
                return "replacing the run-time guard's %s" % name
            return None
        return event + "()"

    def hook(event, args, _type=type, _str=str, _harmless=HARMLESS_EVENTS, _prefixes=HARMLESS_PREFIXES,
             _judge=judge, _refuse=refuse, _status=status, _exit=os._exit, _BaseException=BaseException):
        if _type(event) is not _str:
            _refuse("sys.audit", "an audit event whose name is not a str")
        if event in _harmless:
            return
        if event == "cpython.PyInterpreterState_Clear":
            # The interpreter is about to clear the audit hooks and then free what is
            # left (codec registry, ...): nothing may run unwatched. The run's output
            # is flushed and its status known; end here.
            _exit(_status[0] if _status[0] is not None else 1)
        try:
            if event.startswith(_prefixes):
                return
            what = _judge(event, args)
        except _BaseException:
            what = event + " (the run-time guard could not judge it)"
        if what is not None:
            _refuse(event, what)

    return hook


def _exit_status(exc):
    """The status ``python3`` exits with for a ``SystemExit``."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1


def _run_as_main(code, path, entry, status):
    """Run the script's code as ``__main__``, as ``python3 main.py`` would, recording its status."""
    module = type(sys)("__main__")
    module.__file__ = path
    module.__cached__ = None
    module.__builtins__ = sys.modules["builtins"]
    sys.modules["__main__"] = module
    sys.argv[:] = [entry]
    try:
        exec(code, module.__dict__)
        status[0] = 0
    except SystemExit as exc:
        status[0] = _exit_status(exc)
        raise
    except BaseException as exc:  # noqa: BLE001 - as the interpreter's top level: any exception ends the run
        # The traceback the script would have had: without this launcher's frame.
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        status[0] = 130 if isinstance(exc, KeyboardInterrupt) else 1
        raise SystemExit(status[0])
    finally:
        _flush_std_streams(status)


def _flush_std_streams(status):
    """Flush stdout and stderr now, as the interpreter would at exit: a stream the script closed
    is skipped (Py_FinalizeEx's flush_std_files does so); a failing flush makes the status 120."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not getattr(stream, "closed", False):
                stream.flush()
        except Exception:  # noqa: BLE001 - as Py_FinalizeEx: the run failed to write its output
            status[0] = 120


def _honour_pythonioencoding():
    """``-I`` ignores PYTHON* variables; PYTHONIOENCODING is the one a script's output depends on
    (the process sandbox sets it), so apply it as python3 would: ``encoding[:errors]``."""
    value = os.environ.get("PYTHONIOENCODING", "")
    if not value:
        return
    encoding, _, errors = value.partition(":")
    for stream, default_errors in ((sys.stdin, None), (sys.stdout, None), (sys.stderr, "backslashreplace")):
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding=encoding or None, errors=errors or default_errors)


def decode_policy(text):
    """The policy from its one-argument form: ``key=value`` records separated by \\x1e, list
    items by \\x1f (no json: importing it costs more than the rest of the launcher)."""
    policy = {}
    for record in text.split("\x1e"):
        key, _, value = record.partition("=")
        if key == "kernel_filter":
            policy[key] = value == "1"
        elif key:
            policy[key] = [item for item in value.split("\x1f") if item]
    return policy


def main(argv):
    opts, entry = _parse_args(argv)
    policy = decode_policy(opts["--policy"])
    _honour_pythonioencoding()
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
    if policy.get("kernel_filter", True):
        problem = _install_kernel_filter()
        _forget_ctypes()
        if problem is not None:
            # the nonce, as on a refusal: a script printing this line and exiting 78 is not the host
            os.write(2, ("\n%s\t%s\tthe run-time guard's kernel filter cannot be installed here: %s\n"
                         % (UNAVAILABLE_MARKER, opts["--nonce"], problem)).encode())
            os._exit(EXIT_UNAVAILABLE)
    sys.path.insert(0, tree)
    sys.dont_write_bytecode = True
    roots = _read_roots(tree, policy.get("read", ()))
    status = [None]
    if getattr(sys, "orig_argv", None):  # Python >= 3.10 keeps the command line: the nonce stays ours
        sys.orig_argv[:] = [sys.orig_argv[0], entry]
    sys.addaudithook(_make_hook(tree, roots, policy.get("modules", ()), policy.get("extensions", ()), status,
                                opts["--nonce"]))
    _run_as_main(code, path, entry, status)


if __name__ == "__main__":
    main(sys.argv[1:])
