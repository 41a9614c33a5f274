"""The run-time guard (guard/launcher.py) on its own: a real interpreter, a real audit hook.

Each script runs as the process sandbox runs it (``python -I -B launcher.py ... main.py``
in its tree), with a policy written out here, so these tests hold whatever the static
guard's policy says. The container runs (tests/docker/test_launcher_docker.py) show the
same with the image's python3, through the runner, with MEMO's message.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from guard.runtime import EXIT_REFUSED, EXTENSION_MODULES, LAUNCHER, READ_ROOTS, launcher_command, parse_refusal

MODULES = [
    "json", "csv", "sys", "io", "re", "collections", "dataclasses", "enum", "typing", "datetime",
    "decimal", "statistics", "hashlib", "uuid", "logging", "traceback", "zoneinfo", "textwrap",
    "concurrent.futures", "urllib.parse", "urllib.request", "xml.etree.ElementTree", "gzip",
    "threading", "string", "operator", "functools", "itertools", "time", "signal", "gc",
]
"""What these tests let the script's files import (gc and signal: to attack the hook with)."""
NONCE = "n0nce"
POLICY = {"modules": MODULES, "read": list(READ_ROOTS), "extensions": list(EXTENSION_MODULES)}


def launch(tmp_path: Path, main: str, files: dict[str, str] | None = None, *, bare: bool = False,
           policy: dict | None = None, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``main`` (and ``files``) as a script tree, under the launcher unless ``bare``."""
    tree = tmp_path / "tree"
    tree.mkdir(exist_ok=True)
    (tree / "main.py").write_text(textwrap.dedent(main), encoding="utf-8")
    for rel, text in (files or {}).items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(textwrap.dedent(text), encoding="utf-8")
    command = [sys.executable, "main.py"] if bare else launcher_command(
        sys.executable, str(LAUNCHER), policy or POLICY, str(tree), "main.py", nonce=NONCE)
    return subprocess.run(command, cwd=tree, capture_output=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(tree), **(env or {})})


def refused(proc: subprocess.CompletedProcess, *, by_library: bool = False):
    """The launcher's refusal, asserting the run was refused: ended at once (said so last), or,
    ``by_library``, failed of the error a library call got."""
    stderr = proc.stderr.decode("utf-8", "replace")
    refusal = parse_refusal(proc.returncode, stderr, NONCE)
    assert refusal is not None, (proc.returncode, stderr)
    if by_library:
        assert proc.returncode == 1 and "memo-guard refused: " in stderr, stderr
    else:
        assert proc.returncode == EXIT_REFUSED, (proc.returncode, stderr)
        assert stderr.rstrip().splitlines()[-1].startswith("memo-guard: refused\t")
    return refusal


# --- each forbidden instruction, however it is reached ---------------------------------

FORBIDDEN = {
    "open_for_writing": ("open('/tmp/memo-x', 'w')", "open", "open() for writing '/tmp/memo-x'"),
    "open_append_via_io": ("import io\nio.FileIO('/tmp/memo-x', 'a')", "open", "for writing"),
    "write_through_stdin_fileio": (
        "import sys\nraw = sys.stdin.buffer.detach()\ntype(raw)('/tmp/memo-x', 'w')", "open", "for writing"),
    "open_outside_the_tree": ("open('/etc/passwd').read()", "open", "open() for reading '/etc/passwd'"),
    "read_own_environment_file": ("open('/proc/self/environ', 'rb').read()", "open", "/proc/self/environ"),
    "listdir_outside": ("import sys\nsys.modules['os'].listdir('/etc')", "os.listdir", "'/etc'"),
    "eval_string": ("eval('1 + 1')", "compile", "exec()/eval()/compile() of a string"),
    "exec_string": ("exec('x = 1')", "compile", "of a string"),
    "exec_code_object": ("def f():\n    pass\nexec(f.__code__)", "exec", "exec()/eval() of a code object"),
    "compile_builtin": ("compile('1', 'x', 'eval')", "compile", "of a string"),
    "os_system": ("import sys\nsys.modules['os'].system('true')", "os.system", "os.system()"),
    "os_execv": ("import sys\nsys.modules['os'].execv('/bin/true', ['true'])", "os.exec", "os.exec()"),
    "os_posix_spawn": ("import sys\nsys.modules['os'].posix_spawn('/bin/true', ['true'], {})",
                       "os.posix_spawn", "os.posix_spawn()"),
    "os_fork": ("import sys\nsys.modules['os'].fork()", "os.fork", "os.fork()"),
    "subprocess_popen": ("import sys\nsys.modules['subprocess'].run(['true'])", "subprocess.Popen",
                         "subprocess.Popen()"),
    "fork_exec_directly": (
        "import sys\nsys.modules['subprocess']._fork_exec([b'/bin/true'], [b'/bin/true'], True, (), None, None,"
        " -1, -1, -1, -1, -1, -1, -1, -1, True, False, -1, None, None, None, -1, None, False)",
        "_posixsubprocess.fork_exec", "fork_exec"),
    "reimport_posixsubprocess": (
        "import sys\ndel sys.modules['_posixsubprocess']\nimport _posixsubprocess",
        "import", "import _posixsubprocess"),
    "ctypes": ("import ctypes", "import", "import ctypes"),
    "subinterpreter": ("import _xxsubinterpreters", "import", "import _xxsubinterpreters"),
    "import_outside_policy": ("import ftplib", "import", "import ftplib"),
    "marshal_crafted_code": ("import sys\nsys.modules['marshal'].loads(b'\\xe3' + bytes(40))", "marshal.loads",
                             "marshal.loads()"),
    "marshal_through_importlib": (
        "import sys\nb = sys.modules['_frozen_importlib_external']\n"
        "b._compile_bytecode(b'\\xe3' + bytes(40), bytecode_path=sys.modules['os'].__spec__.cached or 'x.pyc')",
        "marshal.loads", "no bytecode cache"),
    "code_replace": ("def f():\n    pass\nf.__code__.replace(co_name='g')", "code.__new__", "code.__new__()"),
    "pickle_find_class": ("import sys\nimport json\n__import__('pickle').loads(b'cos\\nsystem\\n.')",
                          "import", "import pickle"),
    "settrace": ("import sys\nsys.settrace(lambda *a: None)", "sys.settrace", "sys.settrace()"),
    "setprofile": ("import sys\nsys.setprofile(lambda *a: None)", "sys.setprofile", "sys.setprofile()"),
    "threading_settrace_reaches_the_thread": (
        "import threading\nthreading.settrace(lambda *a: None)\nt = threading.Thread(target=print)\n"
        "t.start()\nt.join()", "sys.settrace", "sys.settrace()"),
    "add_audit_hook": ("import sys\nsys.addaudithook(lambda *a: None)", "sys.addaudithook", "sys.addaudithook()"),
    "gc_get_objects": ("import gc\ngc.get_objects()", "gc.get_objects", "gc.get_objects()"),
    "gc_get_referrers": ("import gc\ngc.get_referrers(print)", "gc.get_referrers", "gc.get_referrers()"),
    "remove_a_file": ("import sys\nsys.modules['os'].remove('/tmp/memo-nothing')", "os.remove", "os.remove()"),
    "input": ("input()", "builtins.input", "builtins.input()"),
}


BY_LIBRARY = {"subprocess_popen", "fork_exec_directly"}
"""Refused inside a library function the script called: the call fails, the script with it."""


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_each_forbidden_instruction_is_refused_and_ends_the_run(tmp_path, name):
    body, event, what = FORBIDDEN[name]
    proc = launch(tmp_path, "print('before')\n" + body + "\nprint('AFTER')\n")
    refusal = refused(proc, by_library=name in BY_LIBRARY)
    assert refusal.event == event and what in refusal.what, refusal
    if name != "threading_settrace_reaches_the_thread":  # refused in the new thread's start-up
        assert refusal.file == "main.py" and refusal.line >= 2, refusal
    assert b"AFTER" not in proc.stdout


def test_a_library_that_handles_a_refusal_goes_on(tmp_path):
    """mysql.connector's connect probes `lsb_release` through subprocess in a try: fine."""
    proc = launch(tmp_path, """
        import sys
        try:
            sys.modules['subprocess'].check_output(['lsb_release', '-a'])
        except OSError as exc:
            print('handled', type(exc).__name__)
    """)
    assert proc.returncode == 0 and proc.stdout == b"handled PermissionError\n"
    assert b"memo-guard: refused in a library\tn0nce\tsubprocess.Popen\tmain.py\t4\t" in proc.stderr
    assert parse_refusal(0, proc.stderr.decode(), NONCE) is None


def test_catching_the_refusal_does_not_let_the_script_go_on(tmp_path):
    proc = launch(tmp_path, """
        try:
            open('/tmp/memo-x', 'w')
        except BaseException:
            print('caught it')
        print('went on')
    """)
    assert refused(proc).line == 3
    assert proc.stdout == b""
    assert not Path("/tmp/memo-x").exists()


def test_a_sniplet_is_one_of_the_scripts_files(tmp_path):
    proc = launch(tmp_path, "from sniplets import helper\nhelper.go()\n", {
        "sniplets/__init__.py": "",
        "sniplets/helper.py": "def go():\n    return eval('2')\n",
    })
    refusal = refused(proc)
    assert (refusal.file, refusal.line) == ("sniplets/helper.py", 2)


def test_writing_a_module_to_tmp_then_importing_it_is_refused_at_the_write(tmp_path):
    proc = launch(tmp_path, """
        import sys
        f = sys.modules['io'].open('/tmp/memo_evil.py', 'w')
        f.write('import os; os.system("id")')
    """)
    assert refused(proc).what.startswith("open() for writing '/tmp/memo_evil.py'")


# --- routes through libraries: what the code they run does is watched -------------------

@pytest.mark.parametrize("body", [
    # typing evaluates forward references with eval(): allowed, but the result is watched
    "import typing\ntyping.ForwardRef(\"__import__('os').system('true')\")._evaluate(globals(), None, frozenset())",
    # a thread runs eval for the script: the code it evaluates is watched
    "import threading\nt = threading.Thread(target=eval, args=(\"__import__('os').system('true')\",))\n"
    "t.start()\nt.join()",
    # dataclasses' exec of generated code with a hostile default factory
    "import dataclasses\n@dataclasses.dataclass\nclass D:\n    x: int = dataclasses.field("
    "default_factory=lambda: __import__('os').system('true'))\nD()",
], ids=["typing_forward_ref", "thread_target_eval", "dataclass_default_factory"])
def test_code_a_library_runs_for_the_script_is_watched_too(tmp_path, body):
    refusal = refused(launch(tmp_path, body + "\n"))
    assert refusal.event == "os.system"


# --- the hook cannot be removed or fooled from Python -------------------------------------

TAMPERING = {
    "rebind_the_launchers_globals_by_frame_climbing": """
        import sys
        frame = sys._getframe()
        while frame.f_back is not None:
            frame = frame.f_back
        g = frame.f_globals
        g['HARMLESS_EVENTS'] = frozenset({'open'})
        g['_norm'] = lambda path, cwd: '/scripts/ok'
        g['os'] = None
        open('/etc/passwd').read()
    """,
    "patch_builtins_the_hook_might_use": """
        import builtins
        builtins.type = lambda x: int
        builtins.isinstance = lambda *a: True
        builtins.repr = str
        open('/etc/passwd').read()
    """,
    "patch_os_functions_the_hook_might_use": """
        import sys
        os = sys.modules['os']
        os.getcwd = lambda: '/'
        os.fspath = lambda p: '/usr/lib/x'
        sys.modules['posixpath'].normpath = lambda p: '/usr/lib/x'
        open('/etc/passwd').read()
    """,
    "str_subclass_path": """
        class Sneaky(str):
            def startswith(self, *a):
                return True
        open(Sneaky('/etc/passwd')).read()
    """,
    "path_object_lying_about_itself": """
        class P:
            n = 0
            def __fspath__(self):
                P.n += 1
                return '/etc/passwd'
        open(P()).read()
    """,
    "exception_raised_inside_the_hook_by_a_signal": """
        import signal
        def boom(*a):
            raise RuntimeError('in the hook')
        signal.signal(signal.SIGALRM, boom)
        signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
        for _ in range(200000):
            try:
                open('/etc/passwd').read()
                print('READ')
                break
            except RuntimeError:
                pass
        signal.setitimer(signal.ITIMER_REAL, 0)
    """,
    "recursion_limit_exhausted_before_the_event": """
        import sys
        def deep(n):
            if n == 0:
                return open('/etc/passwd').read()
            return deep(n - 1)
        sys.setrecursionlimit(60)
        for depth in range(30, 60):
            try:
                print('READ', deep(depth)[:4])
                break
            except RecursionError:
                pass
    """,
    "delete_the_launcher_from_sys_modules": """
        import sys
        for name in list(sys.modules):
            if name not in ('sys', 'builtins'):
                del sys.modules[name]
        open('/etc/passwd').read()
    """,
    "frame_locals_of_a_running_hook_from_a_thread": """
        import sys, threading
        stop = []
        def spy():
            while not stop:
                for frame in sys._current_frames().values():
                    if frame.f_code.co_name == 'hook':
                        frame.f_locals['_harmless'] = frozenset({'open'})
        t = threading.Thread(target=spy, daemon=True)
        t.start()
        for _ in range(2000):
            open('/etc/passwd').read()
            print('READ')
            break
        stop.append(1)
    """,
}


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_the_hook_cannot_be_removed_or_fooled(tmp_path, name):
    proc = launch(tmp_path, TAMPERING[name])
    assert b"READ" not in proc.stdout and b"root:" not in proc.stdout
    if name == "exception_raised_inside_the_hook_by_a_signal":
        # each open either reaches the hook and is refused (77), or the signal's exception aborts
        # it inside the hook and the open does not happen: the loop may end with nothing read
        assert proc.returncode in (EXIT_REFUSED, 0), (proc.returncode, proc.stderr.decode())
    else:
        assert proc.returncode == EXIT_REFUSED, (proc.returncode, proc.stderr.decode())


# --- what report scripts do keeps working, byte for byte ----------------------------------

REPORT = """
    import csv, io, json, sys, logging, uuid, hashlib, re, statistics, textwrap, traceback
    import collections, dataclasses, enum, typing, datetime, decimal, gzip
    import xml.etree.ElementTree as ET
    import urllib.parse, urllib.request
    from concurrent.futures import ThreadPoolExecutor
    from zoneinfo import ZoneInfo
    from queries.abccorp import report_csv as mainquery
    from sniplets import helpers

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    Row = collections.namedtuple("Row", "title os year")

    @dataclasses.dataclass(frozen=True)
    class Book:
        title: str
        price: decimal.Decimal = decimal.Decimal("0")

    class Kind(enum.Enum):
        BOOK = "book"

    def fmt(value: "typing.Optional[str]") -> str:
        return textwrap.shorten(value or "", 20)

    rows = [Row("Å title", "linux", 2020), Row("B", None, 2021)]
    with ThreadPoolExecutor(2) as pool:
        titles = list(pool.map(lambda r: fmt(r.title), rows))
    amsterdam = datetime.datetime(2024, 3, 31, 1, 30, tzinfo=datetime.timezone.utc).astimezone(
        ZoneInfo("Europe/Amsterdam"))
    writer = csv.writer(sys.stdout, lineterminator="\\n")
    writer.writerow(["title", "os", "digest", "when", "kind", "query"])
    for row, title in zip(rows, titles):
        writer.writerow([title, row.os, hashlib.sha1(title.encode()).hexdigest()[:8], amsterdam.isoformat(),
                         Kind.BOOK.value, mainquery.query])
    for _, element in ET.iterparse(io.BytesIO(b"<a><b>x</b></a>")):
        print(element.tag, element.text)
    print(json.dumps({"mean": statistics.mean([1, 2, 4]), "url": urllib.parse.quote("a b"),
                      "book": dataclasses.asdict(Book("t")) | {"price": "0"}, "helper": helpers.shout("x")}))
    print(len(gzip.compress(b"x" * 100, mtime=0)), re.sub(r"\\d", "#", "a1b2"), uuid.UUID(int=1))
    logging.getLogger("report").info("done: %d rows", len(rows))
    try:
        json.loads("{")
    except ValueError:
        traceback.print_exc()
    sys.stdout.flush()
    sys.stdout.buffer.write(b"\\xff\\xfe raw bytes\\n")
"""
REPORT_FILES = {
    "queries/__init__.py": "", "queries/abccorp/__init__.py": "",
    "queries/abccorp/report_csv.py": "query = 'SELECT 1'\n",
    "sniplets/__init__.py": "", "sniplets/helpers.py": "def shout(s):\n    return s.upper()\n",
}


def test_a_report_script_runs_the_same_under_the_launcher_as_bare(tmp_path):
    guarded = launch(tmp_path, REPORT, REPORT_FILES)
    bare = launch(tmp_path, REPORT, REPORT_FILES, bare=True)
    assert guarded.returncode == bare.returncode == 0, guarded.stderr.decode()
    assert guarded.stdout == bare.stdout
    assert guarded.stderr == bare.stderr  # the library traceback too, line for line
    assert b"raw bytes" in guarded.stdout and b"INFO done: 2 rows" in guarded.stderr


@pytest.mark.parametrize("main, code", [
    ("import sys\nsys.exit(3)\n", 3),
    ("raise SystemExit('bye')\n", 1),
    ("def f():\n    raise ValueError('boom')\nf()\n", 1),
    ("x = (\n", 1),
    ("import sys\nprint('partial', end='')\nsys.stdout.flush()\nraise KeyboardInterrupt\n", 130),
])
def test_exit_status_stdout_and_traceback_are_those_of_a_bare_run(tmp_path, main, code):
    guarded = launch(tmp_path, main)
    bare = launch(tmp_path, main, bare=True)
    assert guarded.returncode == code
    assert guarded.stdout == bare.stdout
    if code != 130:  # a bare KeyboardInterrupt ends by the signal itself
        assert bare.returncode == code
        assert guarded.stderr == bare.stderr, guarded.stderr.decode()


def test_the_script_is_main_with_its_tree_first_on_the_path(tmp_path):
    proc = launch(tmp_path, """
        import sys
        print(__name__, __file__.endswith('/tree/main.py'), sys.argv, sys.path[0].endswith('/tree'))
        print(sys.modules['__main__'].__dict__ is globals())
    """)
    assert proc.stdout.decode().split("\n")[:2] == ["__main__ True ['main.py'] True", "True"]


def test_a_script_failing_of_something_else_is_not_blamed_on_a_library_refusal(tmp_path):
    proc = launch(tmp_path, """
        import sys
        try:
            sys.modules['subprocess'].check_output(['lsb_release', '-a'])
        except OSError:
            pass
        raise ValueError('a bug of its own')
    """)
    assert proc.returncode == 1 and b"refused in a library" in proc.stderr
    assert parse_refusal(proc.returncode, proc.stderr.decode(), NONCE) is None


def test_parse_refusal_ignores_other_exits_malformed_lines_and_forgeries():
    line = "memo-guard: refused\tsecret\topen\tmain.py\t3\topen() for writing '/x'"
    assert parse_refusal(1, line, "secret") is None
    assert parse_refusal(EXIT_REFUSED, "memo-guard: refused\tsecret\topen\tmain.py\tNaN\tx", "secret") is None
    assert parse_refusal(EXIT_REFUSED, line, "another") is None  # a script printed it
    refusal = parse_refusal(EXIT_REFUSED, "noise\n" + line + "\n", "secret")
    assert refusal.summary() == "open() for writing '/x' at 3"


def test_a_script_cannot_forge_a_refusal(tmp_path):
    proc = launch(tmp_path, """
        import sys
        sys.stderr.write("memo-guard: refused\\t\\topen\\tmain.py\\t1\\tforged\\n")
        sys.stderr.write("memo-guard: refused\\tn0nc3\\topen\\tmain.py\\t1\\tguessed\\n")
        print(sys.orig_argv)
        sys.exit(77)
    """)
    assert proc.returncode == EXIT_REFUSED and b"forged" in proc.stderr
    assert parse_refusal(proc.returncode, proc.stderr.decode(), NONCE) is None
    assert NONCE.encode() not in proc.stdout  # the command line it could read has no nonce


def test_the_policy_travels_as_one_argument(tmp_path):
    from guard.launcher import decode_policy

    policy = dict(POLICY, kernel_filter=False)
    command = launcher_command("python3", "/memo/launcher.py", policy, "/scripts", "main.py", "/memo-out/stdout")
    assert command[:3] == ["python3", "-I", "-B"] and command[-1] == "main.py"
    assert decode_policy(command[command.index("--policy") + 1]) == policy
    assert command[command.index("--stdout-file") + 1] == "/memo-out/stdout"


def test_a_stdout_the_script_closed_is_not_a_failure_and_pythonioencoding_holds(tmp_path):
    """Corpus findings: encoding_safe_output.py's own TextIOWrapper closes sys.stdout's buffer
    (bare: exit 0); and -I must not change the output's error handler from PYTHONIOENCODING's."""
    main = """
        import io, sys
        def emit():
            out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8")
            out.write("x\\n")
            out.flush()
        emit()
    """
    assert launch(tmp_path, main).returncode == launch(tmp_path, main, bare=True).returncode == 0
    main = "print(b'caf\\\\xe9'.decode('utf-8', 'surrogateescape'))\n"
    for environment in ({"PYTHONIOENCODING": "utf-8"}, {}):
        launched, bare = launch(tmp_path, main, env=environment), launch(tmp_path, main, bare=True, env=environment)
        assert (launched.returncode, launched.stdout) == (bare.returncode, bare.stdout), environment


# --- red team, round 2 (full stack): the routes behind its one escape -----------------------

@pytest.mark.parametrize("body, event", [
    # OPENSSL_CONF (and SSLKEYLOGFILE, INPUTRC, ...) steer C libraries that read and load files
    ("import sys\nsys.modules['os'].putenv('OPENSSL_CONF', '/proc/self/fd/3')", "os.putenv"),
    ("import sys\nsys.modules['os'].environ['SSLKEYLOGFILE'] = '/tmp/k'", "os.putenv"),
    # text compiled under a library's file name would run as that library's code
    ("import concurrent.futures as f\nsrc = 'x = 1'\n"
     "f.ThreadPoolExecutor(1).submit(compile, src, '/usr/lib/python3/x.py', 'exec').result()", "compile"),
])
def test_environment_steering_and_forged_file_names_are_refused(tmp_path, body, event):
    proc = launch(tmp_path, body + "\n")
    stderr = proc.stderr.decode()
    assert f"\t{NONCE}\t{event}\t" in stderr and proc.returncode != 0, stderr


def test_no_anonymous_file_to_load_native_code_from(tmp_path):
    """The escape: a native payload written to a memfd, loaded by OpenSSL through OPENSSL_CONF."""
    proc = launch(tmp_path, """
        import sys
        try:
            sys.modules['os'].memfd_create('payload')
        except OSError as exc:
            print(exc.errno)
    """)
    assert proc.stdout == b"1\n", proc.stderr  # EPERM from the kernel filter


def test_a_directory_opened_to_read_is_not_a_write(tmp_path):
    proc = launch(tmp_path, """
        import sys
        os = sys.modules['os']
        fd = os.open('.', os.O_RDONLY | os.O_DIRECTORY)
        print(len(os.listdir(fd)) > 0)
    """)
    assert (proc.returncode, proc.stdout) == (0, b"True\n"), proc.stderr


def test_an_operator_extends_the_native_modules_by_policy_file_but_never_the_dangerous_ones(tmp_path):
    from guard import load_policy
    from guard.launcher import ALWAYS_REFUSED_IMPORTS
    from guard.policy import NEVER_NATIVE
    from guard.runtime import runtime_policy

    assert ALWAYS_REFUSED_IMPORTS <= NEVER_NATIVE and not set(EXTENSION_MODULES) & NEVER_NATIVE
    good = tmp_path / "good.json"
    good.write_text('{"native_modules": ["charset_normalizer.md"], "modules": {"charset_normalizer": "*"}}')
    policy = runtime_policy(load_policy(good))
    assert "charset_normalizer.md" in policy["extensions"] and "charset_normalizer" in policy["modules"]
    bad = tmp_path / "bad.json"
    for name in ("readline", "_sqlite3", "_posixsubprocess"):
        bad.write_text('{"native_modules": ["%s"]}' % name)
        with pytest.raises(ValueError, match="can never be loaded"):
            load_policy(bad)


def test_the_library_notes_stay_out_of_the_info_log(caplog):
    import logging

    from guard.runtime import LIBRARY_MARKER
    from pathlib import Path

    from memo.sandbox.base import LIBRARY_NOTE, TASK_ID_FIELD, SandboxJob, StderrTail

    assert LIBRARY_NOTE == LIBRARY_MARKER
    tail = StderrTail(SandboxJob(tree=Path("."), timeout=1, name="job", labels={"task-id": "t-1"}))
    with caplog.at_level(logging.DEBUG, logger="memo.script"):
        tail.feed(b"working\n\n" + LIBRARY_MARKER.encode() + b"\tn\tsubprocess.Popen\tmain.py\t3\tx\n")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "[job] working"), (logging.DEBUG, f"[job] {LIBRARY_MARKER}\tn\tsubprocess.Popen\tmain.py\t3\tx")]
    assert {getattr(r, TASK_ID_FIELD) for r in caplog.records} == {"t-1"}  # flows/ send them to the task's run
    assert LIBRARY_MARKER in tail.text()  # kept for the runlog of a failed run
