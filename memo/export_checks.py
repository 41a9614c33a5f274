"""Is a script's output a well-formed document? Checked while it streams, never read twice.

A script that exits 0 after printing a truncated XML feed or half a JSON array would
otherwise replace yesterday's good export; clients' catalogues would read it that night.
The export file (``memo.exports.ExportFile``) feeds every chunk it writes to the check
its file name calls for (``MEMO_VALIDATE_EXPORTS``: by extension, case-insensitive);
the verdict comes before the rename, so a malformed output leaves the previous export
as it was.

A check only reads: the bytes written are the script's, unchanged. It keeps no
document in memory (expat and yajl are push parsers: memory stays flat however large
the output), and after its first error it stops parsing (the verdict cannot change).
"""

from __future__ import annotations

import collections
import xml.parsers.expat
from typing import Protocol

XML_EXTENSIONS = ("xml", "rss", "atom")
JSON_EXTENSIONS = ("json",)
KNOWN_EXTENSIONS = XML_EXTENSIONS + JSON_EXTENSIONS
DEFAULT_EXTENSIONS = "xml,rss,json"
JSON_PIECE = 64 * 1024
"""Bytes given to the JSON parser at a time: where its error lies is known to within one piece."""


class OutputCheck(Protocol):
    """Fed the output chunk by chunk; ``problem()`` after the last chunk: None when well-formed."""

    def feed(self, data: bytes) -> None: ...

    def problem(self) -> str | None: ...


def parse_extensions(value: str) -> frozenset[str]:
    """``MEMO_VALIDATE_EXPORTS``: extensions to check, comma-separated, or ``off``.

    Raises:
        ValueError: an extension no check knows (a typo would silently check nothing).
    """
    names = {part.strip().lower().lstrip(".") for part in value.split(",") if part.strip()}
    if names <= {"off", "none"}:
        return frozenset()
    unknown = sorted(names - set(KNOWN_EXTENSIONS))
    if unknown:
        raise ValueError(f"no well-formedness check for {', '.join(unknown)} "
                         f"(known: {', '.join(KNOWN_EXTENSIONS)}; `off` checks none)")
    return frozenset(names)


def check_for(file_name: str, extensions: frozenset[str]) -> OutputCheck | None:
    """The check the export ``file_name`` calls for, or None (not a checked extension)."""
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if extension not in extensions:
        return None
    return XmlCheck() if extension in XML_EXTENSIONS else JsonCheck()


MAX_XML_PENDING = 16 << 20
"""Bytes of one unfinished token (a tag, a comment, a processing instruction) expat may keep
waiting for its end. It re-reads them at every chunk: an attribute value 200 MB long cost the
runner 250 MB and 30 s of CPU (1 GB: a quarter of an hour, past the task's timeout); text and
CDATA are never kept."""


class XmlCheck:
    """XML and RSS: expat, without handlers (no tree, no entities fetched), fed as it comes,
    an unfinished token's size bounded (``MAX_XML_PENDING``). Deep nesting is not bounded:
    expat keeps each open element (tests/test_export_rules.py's strict xfail)."""

    def __init__(self) -> None:
        self._parser = xml.parsers.expat.ParserCreate()
        self._problem: str | None = None
        self._empty = True
        self._finished = False
        self._fed = 0

    def feed(self, data: bytes) -> None:
        if self._problem is not None or not data:
            return
        self._empty = False
        try:
            self._parser.Parse(data, False)
            self._fed += len(data)
            parsed = self._parser.CurrentByteIndex  # where the token expat still waits for begins
            if parsed >= 0 and self._fed - parsed > MAX_XML_PENDING:
                self._problem = (f"output has an XML tag or comment longer than {MAX_XML_PENDING >> 20} MiB "
                                 f"(from line {self._parser.CurrentLineNumber}): refused")
                self._parser = None
        except xml.parsers.expat.ExpatError as exc:
            self._problem = _xml_problem(exc)
        except LookupError as exc:  # an encoding Python does not know: the output's fault, not the runner's
            self._problem = f"output is not well-formed XML: {exc}"

    def problem(self) -> str | None:
        if self._problem is None and not self._empty and not self._finished:  # empty: MEMO_EMPTY_EXPORT's case
            self._finished = True  # the end is parsed once: the verdict does not change when asked again
            try:
                self._parser.Parse(b"", True)
            except xml.parsers.expat.ExpatError as exc:
                self._problem = _xml_problem(exc)
        return self._problem


def _xml_problem(exc: xml.parsers.expat.ExpatError) -> str:
    reason = xml.parsers.expat.ErrorString(exc.code)
    return f"output is not well-formed XML: {reason} at line {exc.lineno}, column {exc.offset + 1}"


class JsonCheck:
    """JSON: yajl through ijson's C backend (a push parser: one event at a time, no document)."""

    def __init__(self) -> None:
        import ijson

        try:
            backend = ijson.get_backend("yajl2_c")
        except ImportError:  # no C extension for this platform: the same parser in Python, slower
            backend = ijson.get_backend("python")
        # a string that is not UTF-8 surfaces as Python's decoding error, not yajl's
        self._errors = (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError)
        # One value, as RFC 8259 says: yajl's multiple values need no separator ("01" would
        # pass as 0 and 1). JSON Lines files are .jsonl, not checked.
        self._coro = backend.basic_parse_basecoro(_Discard())
        self._problem: str | None = None
        self._offset = 0  # bytes before the piece being parsed
        self._lines = 0  # newlines before it
        self._line_start = 0  # offset of the line the piece begins in
        self._empty = True
        self._finished = False

    def feed(self, data: bytes) -> None:
        if self._problem is not None:
            return
        for start in range(0, len(data), JSON_PIECE):
            piece = data[start:start + JSON_PIECE]
            self._empty = self._empty and not piece
            try:
                self._coro.send(piece)
            except self._errors as exc:
                self._problem = self._where(exc, piece)
                return
            newlines = piece.count(b"\n")
            if newlines:
                self._lines += newlines
                self._line_start = self._offset + piece.rfind(b"\n") + 1
            self._offset += len(piece)

    def problem(self) -> str | None:
        if self._problem is None and not self._empty and not self._finished:
            self._finished = True
            try:
                self._coro.close()
            except self._errors as exc:
                self._problem = self._where(exc, b"")
        return self._problem

    def _where(self, exc: Exception, piece: bytes) -> str:
        """yajl says why and shows the text around the error, not its offset: find that text in
        the piece being parsed for a line and column, else name the piece's bytes."""
        text = str(exc).splitlines()
        reason = text[0].removeprefix("parse error: ").strip() if text else type(exc).__name__
        if not piece:
            return f"output is not valid JSON: {reason} at the end of the output"
        position = _locate(text, piece)
        if position is None:
            end = self._offset + len(piece)
            return f"output is not valid JSON: {reason} within bytes {self._offset + 1}-{end}"
        line = self._lines + piece.count(b"\n", 0, position) + 1
        newline = piece.rfind(b"\n", 0, position)
        line_start = self._offset + newline + 1 if newline >= 0 else self._line_start
        column = self._offset + position - line_start + 1
        return f"output is not valid JSON: {reason} at line {line}, column {column}"


def _locate(text: list[str], piece: bytes) -> int | None:
    """The error's offset in ``piece`` from yajl's context lines (the text, then a caret line),
    when that text occurs in the piece exactly once."""
    if len(text) < 3 or "^" not in text[2]:
        return None
    context, caret = text[1], text[2].index("^")
    shown = context.strip()
    if not shown:
        return None
    lead = len(context) - len(context.lstrip())
    needle = shown.encode("utf-8", "replace")
    flat = piece.translate(_NEWLINES_AS_SPACES)
    found = flat.find(needle)
    if found < 0 or flat.find(needle, found + 1) >= 0:
        return None
    return found + max(0, caret - lead - 1)  # yajl's caret stands just after the offending byte


_NEWLINES_AS_SPACES = bytes.maketrans(b"\n\r\t", b"   ")  # yajl shows them as spaces


class _Discard:
    """The parser's events go nowhere: only its verdict matters."""

    def __init__(self) -> None:
        self.send = collections.deque(maxlen=0).append

    def close(self) -> None:
        pass
