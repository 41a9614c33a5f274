"""The guard's policy: an allow-list, as data, with a reason for every entry.

MEMO's written policy forbids five instructions in scripts: ``exec``, ``eval``,
``open``, ``os.`` and ``subprocess.``.  A list of forbidden things cannot be
complete (Python's standard library reaches the same capabilities under
hundreds of names), so the guard works the other way round, as
RestrictedPython does: **what nobody reviewed is refused**.  This file holds
what was reviewed:

* ``modules`` — the modules a script may import, each either *whole* (every
  public member; for modules of pure computation) or with an explicit member
  allow-list where the module reaches more than it should (``sys``: ``stdout``,
  ``argv``, ``exit``, ...; ``io``: in-memory streams).  Members may be dotted
  (``stdout.buffer``): a member with listed sub-members allows only those.
* ``builtins`` — the builtins a script may use.
* ``arguments`` — constraints on the arguments of some allowed members (no
  file names for ``xml.etree.ElementTree.parse``, no option files for
  ``mysql.connector.connect``, ...).

The rules in :mod:`guard.visitor` look names up here.  ``MEMO_GUARD_POLICY``
names a JSON file that *extends* this allow-list (a module the image gained)
or narrows it (see :func:`load_policy`); the non-negotiable rules and names
below (``NEVER_*``, ``FORBIDDEN_BUILTINS``, ``_`` attributes, the encoding
cookie, unknown syntax) are not data a file can change.

Identifiers are compared after NFKC normalisation (as Python itself does when
it reads source); the names in this file are the normalised spellings.
"""

from __future__ import annotations

import builtins as _builtins_module
import json
import sys
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "ArgumentRule", "ModuleRule", "Policy", "default_policy", "load_policy", "normalize",
    "FORBIDDEN_BUILTINS", "NEVER_MODULES", "NEVER_MEMBERS",
]


def normalize(identifier: str) -> str:
    """NFKC-normalise an identifier as Python's tokenizer does (PEP 3131)."""
    if identifier.isascii():
        return identifier
    return unicodedata.normalize("NFKC", identifier)


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


def _names(text: str, reason: str) -> dict[str, str]:
    """``{name: reason}`` for every name in a whitespace-separated list."""
    return {name: reason for name in text.split()}


@dataclass(frozen=True)
class ModuleRule:
    """One allowed module.

    ``members`` is ``None`` for a *whole* module: every public member may be
    used, except attributes named like modules (a module's namespace holds the
    modules it imported: ``statistics.sys``); ``also`` lists public members
    that are named like modules but are not (``datetime.time``).  Otherwise
    ``members`` maps each allowed (possibly dotted) member to its reason.
    """

    reason: str
    members: Mapping[str, str] | None = None
    also: frozenset[str] = frozenset()

    @property
    def whole(self) -> bool:
        return self.members is None


@dataclass(frozen=True)
class ArgumentRule:
    """Constraints on the arguments of one allowed member (``module.member``).

    Positions are 0-based; ``None`` means keyword-only.
    * ``refused_keywords`` — keyword arguments that may not be given;
    * ``streams`` — arguments that, when given, must be in-memory streams
      (``io.BytesIO(...)``/``io.StringIO(...)``), not file names;
    * ``template``/``style`` — a logging format that the ``{`` style would
      read attributes with: when ``style`` is not the literal ``'%'`` or
      ``'$'``, ``template`` must be a literal string (which the template rule
      then checks);
    * ``max_positional`` — at most this many positional arguments.
    """

    reason: str
    refused_keywords: frozenset[str] = frozenset()
    streams: tuple[tuple[int | None, str], ...] = ()
    template: tuple[int | None, str] | None = None
    style: tuple[int | None, str] | None = None
    max_positional: int | None = None


# --------------------------------------------------------------------------
# Non-negotiable: no policy file can allow these
# --------------------------------------------------------------------------
_EXEC = "MEMO policy: executes arbitrary code (exec/eval)"
_OPEN = "MEMO policy: reads or writes files (open)"
_OS = "MEMO policy: operating-system access (os.)"
_SUBPROCESS = "MEMO policy: runs other programs (subprocess.)"
_BUILTINS = "reaches the builtins module, hence exec/eval/open/__import__"
_IMPORT = "imports any module by name, hence os and subprocess"
_FRAME = "frame/code introspection: reaches the globals and builtins of running code"
_NAMESPACE = "returns a namespace that holds __builtins__"
_BY_STRING = "reaches an attribute named by a string the guard cannot read"

FORBIDDEN_BUILTINS: Mapping[str, str] = _frozen({
    "exec": _EXEC,
    "eval": _EXEC,
    "compile": "builds code objects that exec/eval or a function constructor run",
    "open": _OPEN,
    "input": "reads the process's standard input, which a report never needs",
    "__import__": _IMPORT,
    "globals": _NAMESPACE + " (the module namespace)",
    "locals": _NAMESPACE + " at module level (locals() is globals())",
    "vars": _NAMESPACE + " (vars() is locals(); vars(x) is x.__dict__)",
    "dir": "lists every attribute of an object, private ones included, to reach by name",
    "setattr": "writes an attribute named by a string the guard cannot read",
    "delattr": "deletes an attribute named by a string the guard cannot read",
    "breakpoint": "starts the debugger, an interactive exec",
    "help": "runs pydoc, whose pager can start another program",
    "__build_class__": "builds classes from a function and a namespace: exec's machinery",
    "__builtins__": _BUILTINS,
    "__builtin__": _BUILTINS,
    "__loader__": "the module's loader loads any module by name",
    "__spec__": "the module spec carries the loader, which loads any module",
})
"""Builtins (and implicit module globals) that are never allowed: MEMO's own
forbidden instructions and the builtins that lead to them."""

NEVER_MODULES: Mapping[str, str] = _frozen({
    "builtins": _BUILTINS,
    "__builtin__": _BUILTINS,
    "__main__": "the script's own module object; its namespace holds __builtins__",
    "os": _OS,
    "posix": _OS + " — the os module under its C name",
    "nt": _OS + " — the os module under its Windows name",
    "posixpath": _OS + " — os.path; re-exports os",
    "ntpath": _OS + " — os.path; re-exports os",
    "subprocess": _SUBPROCESS,
    "_posixsubprocess": _SUBPROCESS,
    "pty": _SUBPROCESS,
    "multiprocessing": _SUBPROCESS,
    "importlib": _IMPORT,
    "imp": _IMPORT,
    "_imp": _IMPORT,
    "pkgutil": _IMPORT + " (resolve_name)",
    "runpy": _EXEC,
    "code": _EXEC,
    "codeop": _EXEC,
    "ctypes": "calls C functions directly, e.g. libc system()",
    "_ctypes": "calls C functions directly, e.g. libc system()",
    "marshal": "loads code objects",
    "pickle": "unpickling calls any importable callable (os.system)",
    "_pickle": "unpickling calls any importable callable (os.system)",
    "gc": "gc.get_objects/get_referrers reach every live object, modules included",
    "inspect": _FRAME,
    "_io": _OPEN + " — io under its C name",
    "_pyio": _OPEN + " — the pure-Python io",
})
"""Modules (and their submodules) that no policy file can allow."""

NEVER_MEMBERS: Mapping[str, Mapping[str, str]] = _frozen({
    "sys": _frozen({
        "modules": "holds every loaded module, os and builtins included",
        "meta_path": _IMPORT + " — import hooks",
        "path_hooks": _IMPORT + " — import hooks",
        "path_importer_cache": _IMPORT + " — importers load modules",
        "settrace": _FRAME, "setprofile": _FRAME, "gettrace": _FRAME, "getprofile": _FRAME,
        "addaudithook": "audit hooks watch the run-time guard",
        "breakpointhook": "starts the debugger, an interactive exec",
        "exc_info": _FRAME + " — the traceback's tb_frame",
        "exception": _FRAME + " — the exception's __traceback__",
        "stdin": "standard input's buffer detaches to a raw io.FileIO, whose type opens files",
    }),
    "io": _frozen({"open": _OPEN, "open_code": _OPEN, "FileIO": _OPEN}),
    "codecs": _frozen({"open": _OPEN}),
    "typing": _frozen({"get_type_hints": "evaluates annotation strings with eval()",
                       "ForwardRef": "evaluates its string with eval()"}),
})
"""Members that no policy file can allow, on modules that are otherwise allowed."""

FRAME_ATTRIBUTES: Mapping[str, str] = _frozen(_names(
    "f_globals f_builtins f_locals f_back f_code f_trace tb_frame tb_next gi_frame gi_code "
    "cr_frame cr_code ag_frame ag_code co_code func_globals func_code", _FRAME))
"""Public attribute names that exist only on frames, tracebacks, generators and
code: refused on any object, whatever the guard knows of its type."""

ALLOWED_DUNDER_ATTRIBUTES: Mapping[str, str] = _frozen({
    "__name__": "a class's or function's name: a string",
    "__doc__": "a docstring: a string",
})
"""The only ``_`` attribute names allowed on any object (RestrictedPython's rule)."""

SUPER_DUNDER_METHODS: Mapping[str, str] = _frozen(_names(
    "__init__ __new__ __init_subclass__ __post_init__ __repr__ __str__ __format__ __bytes__ "
    "__eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__ __bool__ __len__ __iter__ __next__ "
    "__reversed__ __contains__ __getitem__ __setitem__ __delitem__ __missing__ __enter__ __exit__ "
    "__call__ __add__ __sub__ __mul__ __truediv__ __floordiv__ __mod__ __neg__ __pos__ __abs__",
    "calls the base class's implementation of a method the class overrides (super().__init__(...))"))
"""Dunder methods a script may call on ``super()`` of the builtin super: the
protocol methods a class overrides; not the attribute-by-string ones
(``__getattribute__``, ``__setattr__``, ...) nor ``__reduce__``."""

NAMEDTUPLE_MEMBERS: Mapping[str, str] = _frozen(_names(
    "_asdict _replace _fields _make _field_defaults",
    "collections.namedtuple's documented API (its names start with _ so that fields cannot clash)"))

SELF_MATCHING_CLASSES: frozenset[str] = frozenset(
    "bool bytearray bytes dict float frozenset int list set str tuple".split())
"""Builtins whose positional class pattern matches the subject itself (``case int(x)``)."""

OWN_PACKAGES: frozenset[str] = frozenset({"queries", "sniplets"})
"""The task's own packages: the runner writes them, the guard checks them."""

MODULE_NAMES: frozenset[str] = frozenset(getattr(sys, "stdlib_module_names", ())) | {
    "mysql", "tinyhtml", "rfeed", "queries", "sniplets", "bltns", "saxutils", "xmlreader",
    "expatreader", "handler", "minidom", "pulldom", "ElementTree", "ElementPath", "domreg",
}
"""Attribute names that are (or may be) modules re-exported through another
module's namespace (``statistics.sys``, ``enum.bltns``): never members of a
whole module, unless the module's rule lists them in ``also``."""


# --------------------------------------------------------------------------
# The default allow-list
# --------------------------------------------------------------------------
_PURE = "pure computation on values the script holds"
_TEXT = "builds or transforms text in memory"
_XML_BUILD = "builds or serialises XML in memory"
_XML_READ = "parses XML text or an in-memory stream the script gives it"
_STREAM = "writes to the script's own standard output or error"
_ERRORS = "exception classes: raising and catching them reaches nothing"
_TYPES = "type annotations and typing helpers: no evaluation of strings"
_DB = "the OAPEN library database through mysql-connector (its read-only account)"


def _whole(reason: str, also: str = "") -> ModuleRule:
    return ModuleRule(reason, None, frozenset(also.split()))


def _only(reason: str, *groups: dict[str, str]) -> ModuleRule:
    members: dict[str, str] = {}
    for group in groups:
        members.update(group)
    return ModuleRule(reason, _frozen(members))


def _stream_members(stream: str) -> dict[str, str]:
    return {
        stream: _STREAM,
        **_names(f"{stream}.write {stream}.writelines {stream}.flush {stream}.encoding {stream}.errors "
                 f"{stream}.reconfigure {stream}.isatty {stream}.buffer", _STREAM),
        **_names(f"{stream}.buffer.write {stream}.buffer.writelines {stream}.buffer.flush",
                 _STREAM + " as bytes (not .raw or .detach(), which hand out an io.FileIO)"),
    }


_TYPING_NAMES = (
    "Annotated Any Callable ClassVar Concatenate Final Generic Literal Optional ParamSpec Protocol Tuple "
    "Type TypeVar TypeVarTuple Union AbstractSet ByteString Container ContextManager Hashable ItemsView "
    "Iterable Iterator KeysView Mapping MappingView MutableMapping MutableSequence MutableSet Sequence "
    "Sized ValuesView Awaitable AsyncIterator AsyncIterable Coroutine Collection AsyncGenerator "
    "AsyncContextManager Reversible SupportsAbs SupportsBytes SupportsComplex SupportsFloat SupportsIndex "
    "SupportsInt SupportsRound ChainMap Counter Deque Dict DefaultDict List OrderedDict Set FrozenSet "
    "NamedTuple TypedDict Generator BinaryIO IO Match Pattern TextIO AnyStr assert_type assert_never cast "
    "final get_args get_origin is_typeddict LiteralString Never NewType no_type_check NoReturn NotRequired "
    "overload Required runtime_checkable Self Text TYPE_CHECKING TypeAlias TypeGuard Unpack"
)

_DEFAULT_MODULES: dict[str, ModuleRule] = {
    # --- the interpreter, narrowly
    "sys": _only("the interpreter; only the script's own output, arguments and version",
                 _stream_members("stdout"), _stream_members("stderr"),
                 _names("argv", "the script's command-line arguments"),
                 _names("exit", "ends the script with a status"),
                 _names("version_info version hexversion maxsize maxunicode byteorder float_info int_info "
                        "getsizeof getrecursionlimit getdefaultencoding platform",
                        "facts about the interpreter")),
    "__future__": _whole("compiler switches (from __future__ import annotations)"),
    "platform": _only("facts about the platform; the rest runs programs (uname, architecture)",
                      _names("python_version python_version_tuple python_implementation",
                             "the interpreter's version: a string")),
    # --- numbers and data
    "math": _whole(_PURE),
    "cmath": _whole(_PURE),
    "decimal": _whole(_PURE),
    "fractions": _whole(_PURE),
    "numbers": _whole(_PURE),
    "statistics": _whole(_PURE),
    "random": _whole(_PURE + " (pseudo-random numbers)", also="random"),
    "secrets": _whole(_PURE + " (random tokens)"),
    "itertools": _whole(_PURE),
    "functools": _only("function tools; not update_wrapper/singledispatch (attributes by string, eval of annotations)",
                       _names("partial partialmethod reduce lru_cache cache cached_property total_ordering "
                              "cmp_to_key", _PURE),
                       _names("wraps", "copies the standard attributes of a function (no assigned/updated)")),
    "operator": _only("operators as functions; attrgetter/methodcaller with literal names only",
                      _names("abs add and_ concat contains countOf delitem eq floordiv ge getitem gt index "
                             "indexOf inv invert is_ is_not itemgetter le length_hint lshift lt matmul mod mul "
                             "ne neg not_ or_ pos pow rshift setitem sub truediv truth xor", _PURE),
                      _names("attrgetter methodcaller",
                             "reads attributes named by strings: allowed with literal public names only")),
    "collections": _whole("containers (namedtuple, defaultdict, Counter, OrderedDict, deque)"),
    "collections.abc": _whole("abstract container classes"),
    "heapq": _whole(_PURE),
    "bisect": _whole(_PURE, also="bisect"),
    "dataclasses": _only("class helpers; not make_dataclass (field names as data)",
                         _names("dataclass field Field fields asdict astuple replace is_dataclass "
                                "FrozenInstanceError InitVar KW_ONLY MISSING", _PURE)),
    "enum": _only("enumerations; not the module's namespace, which holds builtins as 'bltns'",
                  _names("Enum IntEnum StrEnum Flag IntFlag ReprEnum EnumMeta EnumType auto unique verify "
                         "member nonmember FlagBoundary STRICT CONFORM EJECT KEEP EnumCheck CONTINUOUS "
                         "NAMED_FLAGS UNIQUE", _PURE)),
    "typing": _only("annotations; not get_type_hints/ForwardRef, which eval strings",
                    _names(_TYPING_NAMES, _TYPES)),
    "abc": _whole("abstract base classes"),
    "contextlib": _only("context-manager helpers; not chdir",
                        _names("contextmanager closing nullcontext suppress ExitStack AbstractContextManager "
                               "ContextDecorator redirect_stdout redirect_stderr", _PURE)),
    # --- text
    "re": _whole("regular expressions"),
    "string": _only("string constants and Template; not Formatter (reads attributes named in data)",
                    _names("ascii_letters ascii_lowercase ascii_uppercase digits hexdigits octdigits "
                           "punctuation printable whitespace", "a constant string"),
                    _names("capwords Template", "$-templates read mapping keys, never attributes")),
    "textwrap": _whole(_TEXT),
    "unicodedata": _whole("the Unicode database", also="decimal"),
    "difflib": _whole(_TEXT + " (diffs)"),
    "html": _whole("HTML escaping"),
    "html.entities": _whole("HTML entity tables"),
    "html.parser": _whole("parses HTML text the script feeds it"),
    "codecs": _only("text encodings; not codecs.open or the module's namespace (codecs.builtins)",
                    _names("BOM BOM_BE BOM_LE BOM32_BE BOM32_LE BOM64_BE BOM64_LE BOM_UTF8 BOM_UTF16 "
                           "BOM_UTF16_LE BOM_UTF16_BE BOM_UTF32 BOM_UTF32_LE BOM_UTF32_BE", "a constant"),
                    _names("encode decode lookup getencoder getdecoder getincrementalencoder "
                           "getincrementaldecoder getreader getwriter iterencode iterdecode CodecInfo "
                           "register_error lookup_error", "encodes or decodes text and the streams it is given")),
    "io": _only("in-memory streams; not io.open/FileIO (files by name)",
                _names("StringIO BytesIO", "a stream in memory"),
                _names("TextIOWrapper", "text around a binary stream the script is given (sys.stdout.buffer)"),
                _names("UnsupportedOperation SEEK_SET SEEK_CUR SEEK_END DEFAULT_BUFFER_SIZE",
                       "a constant or an error")),
    "base64": _only("base64 and friends; not main() (reads files)",
                    _names("encode decode encodebytes decodebytes b64encode b64decode b32encode b32decode "
                           "b32hexencode b32hexdecode b16encode b16decode b85encode b85decode a85encode "
                           "a85decode standard_b64encode standard_b64decode urlsafe_b64encode "
                           "urlsafe_b64decode", _PURE)),
    "binascii": _whole(_PURE),
    "struct": _whole(_PURE),
    "zlib": _whole(_PURE + " (compression in memory)"),
    "gzip": _only("compression in memory or around a stream the script is given; not gzip.open "
                  "or GzipFile(filename) (files by name)",
                  _names("compress decompress BadGzipFile", _PURE),
                  _names("GzipFile", "a gzip stream around a file object (fileobj=sys.stdout.buffer, "
                                     "io.BytesIO()): its filename argument is refused")),
    "hashlib": _whole("hash functions"),
    "uuid": _only("UUIDs; not uuid1/getnode (run ifconfig) or the module's namespace (uuid.os)",
                  _names("UUID uuid3 uuid4 uuid5 NAMESPACE_DNS NAMESPACE_URL NAMESPACE_OID NAMESPACE_X500 "
                         "SafeUUID", _PURE)),
    "json": _only("JSON; not the module's namespace (json.codecs)",
                  _names("dump dumps load loads JSONDecoder JSONEncoder JSONDecodeError",
                         "JSON text or the stream it is given")),
    "csv": _whole("CSV on the streams the script gives it"),
    "pprint": _only("pretty printing", _names("pprint pformat pp isreadable isrecursive saferepr PrettyPrinter",
                                              _TEXT)),
    # --- time
    "datetime": _whole("dates and times", also="time"),
    "time": _whole("the clock", also="time"),
    "calendar": _whole("calendars", also="calendar"),
    "zoneinfo": _only("time zones by key; not reset_tzpath",
                      _names("ZoneInfo ZoneInfoNotFoundError available_timezones",
                             "reads the time-zone database by key")),
    "email.utils": _whole("date and address formats of e-mail headers"),
    # --- XML
    "xml.etree.ElementTree": _only("XML trees; not reading by file name",
                                   _names("Element SubElement Comment ProcessingInstruction PI QName tostring "
                                          "tostringlist fromstring fromstringlist XML XMLID indent iselement dump "
                                          "register_namespace ParseError TreeBuilder XMLParser XMLPullParser",
                                          _XML_BUILD),
                                   _names("ElementTree parse iterparse", _XML_READ)),
    "xml.dom.minidom": _only("DOM trees; not reading by file name",
                             _names("parseString getDOMImplementation Document Element Text Node Comment "
                                    "CDATASection DocumentFragment Attr", _XML_BUILD),
                             _names("parse", _XML_READ)),
    "xml.sax.saxutils": _only("XML escaping", _names("escape unescape quoteattr XMLGenerator", _XML_BUILD)),
    # --- the network, as MEMO scripts use it
    "urllib.parse": _whole("URL quoting and parsing"),
    "urllib.error": _whole(_ERRORS),
    "urllib.request": _only("HTTP requests: urlopen and Request (file:// URLs are stopped at run time)",
                            _names("urlopen Request", "fetches a URL")),
    # --- diagnostics
    "logging": _only("logging to the script's stderr; not files, handlers or config",
                     _names("getLogger basicConfig Logger LoggerAdapter Handler StreamHandler NullHandler "
                            "Formatter Filter LogRecord getLevelName captureWarnings disable shutdown debug "
                            "info warning warn error exception critical fatal log DEBUG INFO WARNING WARN "
                            "ERROR CRITICAL FATAL NOTSET BASIC_FORMAT", "logs to the streams it is given")),
    "traceback": _only("printing exceptions; not the module's namespace (traceback.linecache)",
                       _names("print_exc format_exc print_exception format_exception format_exception_only",
                              "formats the current exception")),
    "warnings": _only("warnings", _names("warn filterwarnings simplefilter catch_warnings",
                                          "issues or filters warnings")),
    # --- concurrency
    "concurrent.futures": _only("threads; not ProcessPoolExecutor",
                                _names("ThreadPoolExecutor as_completed wait Future CancelledError TimeoutError "
                                       "BrokenExecutor FIRST_COMPLETED FIRST_EXCEPTION ALL_COMPLETED",
                                       "runs the script's functions in threads")),
    # --- the libraries of MEMO's image
    "mysql.connector": _only(_DB,
                             _names("connect Connect", "opens a connection (no option files, no LOCAL INFILE)"),
                             _names("Error Warning InterfaceError DatabaseError InternalError OperationalError "
                                    "ProgrammingError IntegrityError DataError NotSupportedError PoolError",
                                    _ERRORS),
                             _names("FieldType FieldFlag ClientFlag CharacterSet RefreshOption apilevel paramstyle "
                                    "threadsafety Date Time Timestamp Binary STRING BINARY NUMBER DATETIME ROWID "
                                    "DateFromTicks TimeFromTicks TimestampFromTicks HAVE_CEXT",
                                    "DB-API constants and types")),
    "mysql.connector.errors": _whole(_ERRORS),
    "mysql.connector.errorcode": _whole("MySQL error numbers"),
    "mysql.connector.cursor": _whole("cursor classes (cursor_class=...)"),
    "tinyhtml": _only("HTML built in memory", _names("h html frag raw render render_into Frag SupportsRender "
                                                     "Attribute escape", _TEXT)),
    "rfeed": _only("RSS built in memory; not the module's namespace (rfeed.saxutils, rfeed.sys)",
                   _names("Feed Item Guid Enclosure Category Cloud Image Source TextInput SkipHours SkipDays "
                          "Extension Serializable Host iTunes iTunesCategory iTunesItem iTunesOwner "
                          "ElementRequiredError", _TEXT)),
}

_EXCEPTIONS = sorted(
    name for name, value in vars(_builtins_module).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)

_DEFAULT_BUILTINS: dict[str, str] = {
    **_names("True False None NotImplemented Ellipsis __debug__", "a constant"),
    **_names("abs all any ascii bin bool bytearray bytes callable chr complex dict divmod enumerate filter "
             "float format frozenset hash hex id int isinstance issubclass iter len list map max memoryview "
             "min next object oct ord pow print range repr reversed round set slice sorted str sum tuple zip "
             "aiter anext", _PURE),
    **_names("classmethod staticmethod property", "method decorators"),
    "super": "the base class's methods (dunder methods only as super().__init__(...))",
    "type": "the class of a value: type(x) with one argument only (three arguments build classes from data)",
    "getattr": "allowed only as getattr(x, 'literal_public_name'[, default]), which is x.literal_public_name",
    "hasattr": "allowed only as hasattr(x, 'literal_public_name')",
    **{name: _ERRORS for name in _EXCEPTIONS},
}
"""Builtins a script may use; everything else in ``builtins`` (and every name
the script does not bind) is refused."""

_STREAM_ONLY = "reads an in-memory stream only (io.BytesIO/io.StringIO), never a file by name"
_CONNECT = ArgumentRule(
    "opens the database connection; option files, token files and LOAD DATA LOCAL INFILE read local files, "
    "and a callback given by name is imported by name (import_object)",
    refused_keywords=frozenset({"option_files", "option_groups", "read_default_file", "allow_local_infile",
                                "allow_local_infile_in_path", "webauthn_callback", "openid_token_file"}))

_DEFAULT_ARGUMENTS: dict[str, ArgumentRule] = {
    "xml.etree.ElementTree.parse": ArgumentRule(_STREAM_ONLY, streams=((0, "source"),)),
    "xml.etree.ElementTree.iterparse": ArgumentRule(_STREAM_ONLY, streams=((0, "source"),)),
    "xml.etree.ElementTree.ElementTree": ArgumentRule(_STREAM_ONLY, streams=((1, "file"),)),
    "xml.dom.minidom.parse": ArgumentRule(_STREAM_ONLY, streams=((0, "file"),)),
    "gzip.GzipFile": ArgumentRule("compresses into a stream it is given (fileobj=), never a file by name",
                                  refused_keywords=frozenset({"filename"}), max_positional=0),
    "mysql.connector.connect": _CONNECT,
    "mysql.connector.Connect": _CONNECT,
    "functools.wraps": ArgumentRule("assigned/updated copy attributes named by strings ('__globals__')",
                                    refused_keywords=frozenset({"assigned", "updated"}), max_positional=1),
    "logging.basicConfig": ArgumentRule(
        "logs to a stream, never a file by name; a '{' style format reads attributes like str.format",
        refused_keywords=frozenset({"filename", "filemode"}), template=(None, "format"), style=(None, "style")),
    "logging.Formatter": ArgumentRule("a '{' style format reads attributes like str.format",
                                      template=(0, "fmt"), style=(2, "style")),
}

IN_MEMORY_STREAMS: frozenset[str] = frozenset({"io.BytesIO", "io.StringIO"})
"""The callables whose result counts as an in-memory stream for ``streams``."""

STRING_NAMED_FUNCTIONS: frozenset[str] = frozenset({"operator.attrgetter", "operator.methodcaller"})
"""Members that reach attributes named by their string arguments: only called
directly, with literal public names."""


def own_module(dotted: str) -> bool:
    """Whether a dotted name is a module of the task's own packages, laid out
    as the runner writes them: ``sniplets/<name>.py``, ``queries/<name>.py``
    and ``queries/<client>/<task>.py``, each query module holding ``query``."""
    parts = dotted.split(".")
    if parts[0] == "sniplets":
        return len(parts) <= 2
    return parts[0] == "queries" and len(parts) <= 3 and parts[-1] != "query"


# --------------------------------------------------------------------------
# The policy object
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    """What a script may use.  See the module docstring.

    * ``modules`` — ``{dotted module: ModuleRule}``; the task's own
      ``queries`` and ``sniplets`` are always allowed (whole, public members);
    * ``builtins`` — ``{name: reason}`` of the allowed builtins;
    * ``arguments`` — ``{"module.member": ArgumentRule}``;
    * ``enforce`` — ``False`` only in tests whose subject is the container: the
      guard then accepts every script that parses;
    * ``description``/``sources`` — what the policy is and which files extended it.
    """

    modules: Mapping[str, ModuleRule] = field(default_factory=lambda: _frozen(_DEFAULT_MODULES))
    builtins: Mapping[str, str] = field(default_factory=lambda: _frozen(_DEFAULT_BUILTINS))
    arguments: Mapping[str, ArgumentRule] = field(default_factory=lambda: _frozen(_DEFAULT_ARGUMENTS))
    enforce: bool = True
    native_modules: frozenset[str] = frozenset()
    """Native (C extension) modules the run-time guard lets load beyond its own list
    (``guard.runtime.EXTENSION_MODULES``): what a package the image gained needs."""
    description: str = "MEMO's default allow-list"
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        children: set[tuple[str, str]] = set()
        for module, rule in self.modules.items():
            for member in rule.members or ():
                parts = member.split(".")
                for i in range(1, len(parts)):
                    children.add((module, ".".join(parts[:i])))
        object.__setattr__(self, "_refined", frozenset(children))
        names = set(MODULE_NAMES)
        for module in self.modules:
            names.add(module.split(".", 1)[0])
        object.__setattr__(self, "_module_names", frozenset(names))

    # -- look-ups used by the visitor ---------------------------------------
    def importable_modules(self) -> frozenset[str]:
        """Dotted names the script's own files may import: the allowed modules
        and the task's own packages (for the run-time layer)."""
        return frozenset(self.modules) | OWN_PACKAGES

    def is_module(self, dotted: str) -> bool:
        """Whether ``dotted`` names an allowed module (or one of the task's own)."""
        return dotted in self.modules or own_module(dotted)

    def split_module(self, parts: Sequence[str]) -> tuple[str | None, int]:
        """The longest allowed module ``parts`` starts with, and how many parts it takes."""
        found: tuple[str | None, int] = (None, 0)
        for i in range(1, len(parts) + 1):
            dotted = ".".join(parts[:i])
            if self.is_module(dotted):
                found = (dotted, i)
        return found

    def member_problem(self, module: str, members: Sequence[str]) -> str | None:
        """Why ``module.members...`` may not be used, or ``None`` if it may.

        Parts from the first ``_`` name on are left to the private-attribute
        rule, which reports them.
        """
        members = list(members)
        for i, part in enumerate(members):
            if part.startswith("_"):
                members = members[:i]
                break
        if not members:
            return None
        rule = self.modules.get(module)
        if rule is None or rule.whole:  # the task's own packages are whole too
            first = members[0]
            if first in self._module_names and first != module.rsplit(".", 1)[-1] and (
                rule is None or first not in rule.also
            ):
                return f"reaches the module {first!r} through {module}'s namespace (modules re-export what they import)"
            return None
        listed = rule.members
        for k in range(len(members), 0, -1):
            key = ".".join(members[:k])
            if key in listed:
                if k < len(members) and (module, key) in self._refined:
                    return (f"{module}.{key}.{members[k]} is not an allowed member of {module} "
                            f"(allowed below {key}: only the listed ones)")
                return None
        return f"{module}.{members[0]} is not an allowed member of {module} ({rule.reason})"

    def extended(self, extension: Mapping[str, Any], source: str = "policy file") -> "Policy":
        """A copy of this policy with ``extension`` applied (see :func:`load_policy`).
        Raises ``ValueError``."""
        return _extend(self, extension, source)


_DEFAULT = Policy()


def default_policy() -> Policy:
    """MEMO's allow-list: what report scripts use, reviewed; everything else refused.

    Returns:
        The one shared default ``Policy`` (immutable: ``extended`` makes copies).
    """
    return _DEFAULT


# --------------------------------------------------------------------------
# Extensions (MEMO_GUARD_POLICY)
# --------------------------------------------------------------------------
_KEYS = frozenset({"description", "modules", "builtins", "refuse", "native_modules"})

NEVER_NATIVE: frozenset[str] = frozenset({
    # native modules that read, write, run or reach memory in C where no audit event sees it
    "_posixsubprocess", "_ctypes", "_ctypes_test", "_xxsubinterpreters", "_xxinterpchannels",
    "_interpreters", "_interpchannels", "_interpqueues", "_testcapi", "_testinternalcapi",
    "_testmultiphase", "_testsinglephase", "_testbuffer", "_testimportmultiple", "_testclinic",
    "_posixshmem", "readline", "_sqlite3", "_dbm", "_gdbm", "_curses", "_curses_panel", "mmap",
    "_tkinter", "_multiprocessing", "ossaudiodev", "_mysql_connector",
})
"""Native modules no policy file can let a script's process load (the run-time guard's list)."""
_REFUSE_KEYS = frozenset({"modules", "members", "builtins"})
_LEGACY_KEYS = frozenset({"forbidden_names", "forbidden_modules", "module_members", "forbidden_attributes",
                          "module_attribute_names", "forbidden_dunders", "dynamic_attribute_functions",
                          "trusted_packages"})
_BUILTIN_NAMES = frozenset(dir(_builtins_module))


def _dotted_name(value: Any, what: str) -> str:
    """A valid dotted name with no ``_`` part (the private-attribute rule is not negotiable)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what}: expected a non-empty string, got {value!r}")
    parts = [normalize(p) for p in value.split(".")]
    if not all(p.isidentifier() for p in parts):
        raise ValueError(f"{what}: {value!r} is not a valid dotted name")
    if any(p.startswith("_") for p in parts):
        raise ValueError(f"{what}: {value!r} has a part starting with '_': private names are never allowed")
    return ".".join(parts)


def _reasons(value: Any, what: str, default: str) -> dict[str, str]:
    """A list of names or an object ``{name: reason}``, as ``{dotted name: reason}``."""
    if isinstance(value, list):
        return {_dotted_name(v, what): default for v in value}
    if isinstance(value, dict):
        out = {}
        for name, reason in value.items():
            if not isinstance(reason, str):
                raise ValueError(f"{what}.{name}: the reason must be a string, got {reason!r}")
            out[_dotted_name(name, what)] = reason or default
        return out
    raise ValueError(f"{what}: expected a list of names or an object {{name: reason}}, got {type(value).__name__}")


def _check_never(module: str, members: Iterable[str], what: str) -> None:
    for never, reason in NEVER_MODULES.items():
        if module == never or module.startswith(never + "."):
            raise ValueError(f"{what}: {module} can never be allowed ({reason})")
    if module.split(".", 1)[0] in OWN_PACKAGES:
        raise ValueError(f"{what}: {module} is the task's own package, always allowed; it cannot be configured")
    never_members = NEVER_MEMBERS.get(module, {})
    for member in members:
        head = member.split(".", 1)[0]
        if head in never_members:
            raise ValueError(f"{what}: {module}.{member} can never be allowed ({never_members[head]})")


def _module_rule(module: str, entry: Any, base: ModuleRule | None, what: str, reason: str) -> ModuleRule:
    """The rule for one ``modules`` entry, merged with the existing one."""
    if isinstance(entry, (str, list)) or (isinstance(entry, dict) and "members" not in entry):
        entry = {"members": entry}  # "*", [members] or {member: reason}
    if not isinstance(entry, dict):
        raise ValueError(f"{what}: expected \"*\", a list of members, an object {{member: reason}} or "
                         f"{{\"reason\", \"members\", \"also\"}}, got {type(entry).__name__}")
    unknown = set(entry) - {"reason", "members", "also"}
    if unknown:
        raise ValueError(f"{what}: unknown key(s) {', '.join(sorted(unknown))}; known: reason, members, also")
    own_reason = entry.get("reason", reason)
    if not isinstance(own_reason, str) or not own_reason:
        raise ValueError(f"{what}.reason: expected a non-empty string")
    members = entry.get("members", "*")
    also = frozenset(_reasons(entry.get("also", []), f"{what}.also", reason))
    if members == "*":
        if base is not None and not base.whole:
            raise ValueError(f"{what}: {module} is allowed with a member list; a policy file can add "
                             "members but not allow the whole module")
        _check_never(module, (), what)
        return ModuleRule(base.reason if base else own_reason, None, (base.also if base else frozenset()) | also)
    added = _reasons(members, f"{what}.members", own_reason)
    _check_never(module, added, what)
    if base is not None and base.whole:
        raise ValueError(f"{what}: {module} is already allowed whole; its public members need no list")
    merged = dict(base.members) if base is not None else {}
    merged.update(added)
    return ModuleRule(base.reason if base else own_reason, _frozen(merged), also)


def _extend_modules(policy: Policy, value: Any, source: str) -> dict[str, ModuleRule]:
    if not isinstance(value, dict):
        raise ValueError(f"{source}: modules must be an object {{module: entry}}")
    reason = f"allowed by the local policy ({source})"
    modules = dict(policy.modules)
    for name, entry in value.items():
        module = _dotted_name(name, f"{source}: modules")
        modules[module] = _module_rule(module, entry, modules.get(module), f"{source}: modules.{module}", reason)
    return modules


def _extend_builtins(policy: Policy, value: Any, source: str) -> dict[str, str]:
    added = _reasons(value, f"{source}: builtins", f"allowed by the local policy ({source})")
    for name in added:
        if name in FORBIDDEN_BUILTINS:
            raise ValueError(f"{source}: builtins: {name} can never be allowed ({FORBIDDEN_BUILTINS[name]})")
        if name not in _BUILTIN_NAMES:
            raise ValueError(f"{source}: builtins: {name!r} is not a builtin of this Python")
    return {**policy.builtins, **added}


def _refuse(policy: Policy, value: Any, source: str) -> dict[str, Any]:
    """The ``refuse`` key: names taken out of the allow-list (never added)."""
    if not isinstance(value, dict) or set(value) - _REFUSE_KEYS:
        raise ValueError(f"{source}: refuse must be an object with keys {', '.join(sorted(_REFUSE_KEYS))}")
    modules, builtins = dict(policy.modules), dict(policy.builtins)
    for module in _reasons(value.get("modules", []), f"{source}: refuse.modules", ""):
        if modules.pop(module, None) is None:
            raise ValueError(f"{source}: refuse.modules: {module} is not allowed in the first place")
    members = value.get("members", {})
    if not isinstance(members, dict):
        raise ValueError(f"{source}: refuse.members must be an object {{module: [members]}}")
    for name, names in members.items():
        module = _dotted_name(name, f"{source}: refuse.members")
        rule = modules.get(module)
        if rule is None or rule.whole:
            raise ValueError(f"{source}: refuse.members: {module} has no member list to take members from")
        kept = dict(rule.members)
        for member in _reasons(names, f"{source}: refuse.members.{module}", ""):
            for key in [k for k in kept if k == member or k.startswith(member + ".")]:
                del kept[key]
        modules[module] = replace(rule, members=_frozen(kept))
    for name in _reasons(value.get("builtins", []), f"{source}: refuse.builtins", ""):
        if builtins.pop(name, None) is None:
            raise ValueError(f"{source}: refuse.builtins: {name} is not allowed in the first place")
    return {"modules": _frozen(modules), "builtins": _frozen(builtins)}


def _extend(base: Policy, ext: Mapping[str, Any], source: str) -> Policy:
    if not isinstance(ext, Mapping):
        raise ValueError(f"{source}: the policy must be a JSON object, got {type(ext).__name__}")
    legacy = set(ext) & _LEGACY_KEYS
    if legacy:
        raise ValueError(f"{source}: unknown key(s) {', '.join(sorted(legacy))}: the guard is an allow-list now; "
                         "a policy file adds modules, members and builtins (see docs/guard.md)")
    unknown = set(ext) - _KEYS
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; "
                         f"known keys are {', '.join(sorted(_KEYS))}")
    description = ext.get("description", base.description)
    if not isinstance(description, str):
        raise ValueError(f"{source}: description must be a string")
    policy = replace(base, description=description, sources=base.sources + (source,))
    if "modules" in ext:
        policy = replace(policy, modules=_frozen(_extend_modules(policy, ext["modules"], source)))
    if "builtins" in ext:
        policy = replace(policy, builtins=_frozen(_extend_builtins(policy, ext["builtins"], source)))
    if "refuse" in ext:
        policy = replace(policy, **_refuse(policy, ext["refuse"], source))
    if "native_modules" in ext:
        policy = replace(policy, native_modules=policy.native_modules | _native_modules(ext["native_modules"], source))
    return policy


def _native_modules(value: Any, source: str) -> frozenset[str]:
    """The ``native_modules`` key: dotted names of C extension modules (``_`` parts allowed, C
    extensions are often named so: ``_cffi_backend``), never one of NEVER_NATIVE."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{source}: native_modules must be a list of module names")
    names = set()
    for name in value:
        module = normalize(name.strip())
        if not module or not all(part.isidentifier() for part in module.split(".")):
            raise ValueError(f"{source}: native_modules: {name!r} is not a dotted module name")
        if module in NEVER_NATIVE:
            raise ValueError(f"{source}: native_modules: {module} can never be loaded by a script's process "
                             "(it reads, writes, runs or reaches memory in C, where no audit event sees it)")
        names.add(module)
    return frozenset(names)


def load_policy(path: str | Path) -> Policy:
    """Read a JSON file that extends (or narrows) the default allow-list.

    The file is one JSON object; every key is optional::

        {
          "description": "OAPEN: the image gained requests",
          "modules": {
            "requests": {"reason": "HTTP client", "members": ["get", "post", "RequestException"]},
            "unicodedata2": "*",
            "sys": ["getswitchinterval"]
          },
          "builtins": {"exit": "scripts end with exit()"},
          "refuse": {"modules": ["urllib.request"], "members": {"sys": ["argv"]}, "builtins": ["memoryview"]}
        }

    ``native_modules`` lists C extension modules a package the image gained needs at run
    time (``["charset_normalizer.md"]``); ``NEVER_NATIVE`` ones are refused.
    ``modules`` adds modules or members: ``"*"`` allows a new module whole
    (public members), a list (or an object ``{member: reason}``) names members
    (added to an existing member list), and the object form
    ``{"reason", "members", "also"}`` (recognised by its ``members`` key)
    gives the module's reason and, for a whole module, ``also``: members
    named like modules that are not modules.  ``builtins`` adds
    builtins; ``refuse`` takes modules, members or builtins out.

    Non-negotiable, and a ``ValueError`` if a file tries: private (``_``)
    names, the modules of ``NEVER_MODULES``, the members of ``NEVER_MEMBERS``,
    the builtins of ``FORBIDDEN_BUILTINS``, turning a member-listed module
    whole, configuring the task's own packages.  The encoding-cookie,
    unknown-syntax and template rules are not data at all.

    Args:
        path: the JSON file (``MEMO_GUARD_POLICY``).

    Returns:
        The default policy with the file's extension applied.

    Raises:
        ValueError: with a clear message, if the file cannot be read, is not JSON, has an
            unknown key, a value of the wrong shape or an invalid name.
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
