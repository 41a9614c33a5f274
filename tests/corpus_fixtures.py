"""What the Code Guard's corpus of realistic report scripts needs to run for real.

``tests/guard/corpus/accepted/`` holds report scripts as MEMO Manager users write them
(and three sniplets). The static guard reads them (tests/guard); the tests that use this
module *run* them, bare and under the run-time guard (tests/test_corpus_runs.py, and in
a container through the runner: tests/docker/test_corpus_docker.py).

Organised as:

- the library database every script reads: ``LIBRARY_TABLES`` (DDL) and the rows of
  each table (``ITEMS``, ``CHAPTERS``, ...), realistic and small, with the awkward bits
  the corpus promises (non-Latin and 4-byte unicode, quotes and markup in titles,
  decimals, NULLs, stored XML with a broken record, DST-edge timestamps); created by
  ``create_library`` under a random name with a read-only account of its own;
- the sniplets (``TEST_MYSQL_CONNECT``: the corpus sniplet's API, pointed at that
  database, keeping the connections it opens; ``marc21``: the corpus's own file);
- ``FIXTURES``: ONE entry per corpus file, by file name: the task's export name (its own
  query is ``abccorp:<file_name with the first . → _>``, what the script imports as
  ``mainquery``), that query's SQL, the library queries and sniplets the tree gets, what
  the export must show, and the parts of the output that depend on the clock or on chance
  (``Volatile``). The three corpus *sniplets* (mysql_connect_sniplet.py, marc21_sniplet.py,
  typed_sniplet_helpers.py) print nothing as main.py: their entries put the corpus file in
  ``sniplets/`` and give a MAIN script (``main``) that uses it;
- ``plan_files``/``write_tree``: the script tree laid out by the runner's own code
  (``resolve_dependencies``, and ``plan_tree``, which renders queries with
  ``render_query_module``); ``library_needs``: the library rows a task needs;
- ``FakeCrossref``: a proxy on loopback for the one script that calls a public API
  (``pagination_api.py``): no request leaves this host;
- ``run_job``, ``strip_library_refusals``, ``mask``: one run as the process sandbox makes
  it, and what the comparison of two runs leaves out.
"""

from __future__ import annotations

import datetime as dt
import gzip
import http.server
import re
import secrets
import ssl
import string
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from guard import default_policy
from guard.runtime import runtime_policy
from cli.demo.run import _admin_engine, _reader_hosts
from cli.demo.samples import LibraryAccess
from memo.dependencies import resolve_dependencies
from memo.models import Query, Script, Task, TaskSpec, main_script_name
from memo.tree import plan_tree

CORPUS = Path(__file__).resolve().parent / "guard" / "corpus" / "accepted"
USERNAME = "abccorp"


def corpus_files() -> list[Path]:
    """Every corpus file, discovered (a file added later is picked up, and needs an entry)."""
    return sorted(CORPUS.glob("*.py"))


def corpus_text(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


# --- the library database ---------------------------------------------------------------------

LIBRARY_TABLES = [
    """CREATE TABLE item (
        id INT PRIMARY KEY,
        handle VARCHAR(64) NOT NULL UNIQUE,
        title VARCHAR(500) NOT NULL,
        author VARCHAR(255) NULL,
        publisher VARCHAR(255) NOT NULL,
        year SMALLINT NOT NULL,
        isbn VARCHAR(32) NULL,
        doi VARCHAR(128) NULL,
        language CHAR(3) NOT NULL,
        license VARCHAR(32) NULL,
        open TINYINT(1) NOT NULL,
        withdrawn TINYINT(1) NOT NULL DEFAULT 0,
        kind VARCHAR(16) NOT NULL,
        abstract TEXT NULL,
        date_accessioned DATETIME NOT NULL,
        last_modified DATETIME NOT NULL,
        embargo_until DATETIME NULL
    )""",
    """CREATE TABLE chapter (
        id INT PRIMARY KEY, item_id INT NOT NULL, title VARCHAR(500) NOT NULL,
        pages VARCHAR(32) NOT NULL, authors VARCHAR(500) NOT NULL, doi VARCHAR(128) NULL
    )""",
    """CREATE TABLE usage_stat (
        item_id INT NOT NULL, month DATE NOT NULL, requests INT NOT NULL, views INT NOT NULL,
        PRIMARY KEY (item_id, month)
    )""",
    """CREATE TABLE price (
        isbn VARCHAR(13) PRIMARY KEY, price DECIMAL(12,2) NOT NULL, currency CHAR(3) NOT NULL,
        executive_summary TEXT NULL
    )""",
    "CREATE TABLE metadata_record (handle VARCHAR(64) PRIMARY KEY, xml TEXT NOT NULL)",
    """CREATE TABLE title_change (
        handle VARCHAR(64) NOT NULL, old_title TEXT NULL, new_title TEXT NULL, changed DATE NOT NULL
    )""",
    "CREATE TABLE record_blob (handle VARCHAR(64) PRIMARY KEY, data MEDIUMBLOB NOT NULL)",
    """CREATE TABLE download (
        id INT PRIMARY KEY, handle VARCHAR(64) NOT NULL, os VARCHAR(32) NULL, browser VARCHAR(32) NULL,
        country CHAR(2) NULL
    )""",
]

ITEM_COLUMNS = ("id", "handle", "title", "author", "publisher", "year", "isbn", "doi", "language", "license",
                "open", "withdrawn", "kind", "abstract", "date_accessioned", "last_modified", "embargo_until")
H = "20.500.12657/"
LONG_ABSTRACT = ("Open access books are read in many places. " * 14).strip()  # > 500 characters (RSS cuts)

# date_accessioned is "days before the seed" (an int: the RSS feed wants this week's) or fixed.
ITEMS = [
    (1, H + "47301", "Ökonomie der Gemeingüter", "Müller, Jürgen", "transcript Verlag", 2021,
     "9783839456781", "10.14361/9783839456781", "ger", "CC BY 4.0", 1, 0, "monograph",
     "Über Gemeingüter, Commons & die Ökonomie des Teilens.", 2, "2026-11-30 08:15:00", None),
    (2, H + "47302", "日本の近代文学と翻訳", "佐藤 花子", "Amsterdam University Press", 2022,
     "978-94-6372-123-3", "10.5117/9789463721233", "jpn", "CC BY-NC 4.0", 1, 0, "monograph",
     "明治期以降の翻訳文学についての研究。", 5, "2026-11-27 23:59:59", None),
    (3, H + "47303", 'Café Society & the "Public" Sphere: <Coffee> Houses in Europe', "O'Brien, Siobhán",
     "  ubiquity   PRESS ", 2020, "978-1-911529-99-0", None, "eng", None, 0, 0, "edited",
     None, 40, "2025-06-01 12:00:00", "2027-03-31 22:00:00"),
    (4, H + "47304", "𝔐athematical Structures of Ṛgvedic Metre", "Śarmā, Devī",
     "Heidelberg University Publishing", 2019, None, "10.11588/heibup.1234", "eng", "CC BY-SA 4.0", 1, 0,
     "monograph", "Metre, number & the Veda: 4-byte 𝔐 in utf8mb4.", 1, "2026-12-01 06:30:00", None),
    (5, H + "47305", "Żółć i gęśla jaźń: Polish Poetics", "Wójcik, Łukasz", "Ubiquity Press", 2023,
     "9781833941227", "10.5334/bcd.5", "pol", "CC BY 4.0", 1, 1, "chapter",
     "A withdrawn duplicate record.", 400, "2025-11-01 10:00:00", None),
    (6, H + "47306", "Knowledge Commons and Scholarly Communication in the Twenty-First Century: "
     "Infrastructures, Economies, Governance, and the Politics of Openness", "Smith, Anne; Jones, Bob",
     "transcript  verlag", 2024, "9783110638882", "10.1234/not-in-crossref", "eng", "CC BY 4.0", 1, 0,
     "edited", "Open infrastructures and the knowledge commons.", 3, "2026-11-29 17:45:00", None),
    (7, H + "47307", "Ελληνική Φιλοσοφία και Επιστήμη", "Παπαδόπουλος, Γιώργος", "Amsterdam University Press",
     2018, "978-1-928131-54-0", None, "gre", "CC0 1.0", 1, 0, "monograph", None,
     "2018-05-14 09:00:00", "2019-01-02 03:04:05", None),
    (8, H + "47308", "Climate Justice in the Global South", "Nkosi, Thandiwe", "African Minds", 2023,
     "9789090102870", "10.47622/9789090102870", "eng", "CC BY 4.0", 1, 0, "monograph",
     "Climate adaptation, justice and the commons.", 6, "2026-11-26 11:11:11", None),
    (9, H + "47309", "Climate Change Adaptation: Accounts of 0.1 °C", "García-López, José", "Ubiquity Press",
     2022, "978-3-642-09876-0", "10.5334/bce", "eng", "CC BY-NC-ND 4.0", 1, 0, "chapter",
     "Half a degree — climate models in practice.", 30, "2026-11-02 00:00:00", None),
    (10, H + "47310", "Closed Book of Embargoed Research", None, "Brill", 2025, "9783948064310", None, "eng",
     "Proprietary", 0, 0, "monograph", "Embargoed until the end of the project.", 1,
     "2026-12-01 20:00:00", "2026-12-31 23:00:00"),
    (11, H + "47311", "An Open Book's Apostrophe, a \\ Backslash and 100% Coverage", "D'Souza, Priya",
     "Mattering Press", 2021, "ISBN 978-1-83394-122-7", "10.28938/9780995527744", "eng", "CC BY 4.0", 1, 0,
     "monograph", LONG_ABSTRACT, 4, "2026-11-28 14:00:00", "2026-03-29 01:30:00"),
    (12, H + "47312", "Zeitgeschichte im Dialog", "Weiß, Anna-Lena", "Böhlau", 2017, "9781000000016", None,
     "ger", None, 0, 0, "other", None, "2017-09-01 08:00:00", "2020-02-29 12:00:00", "2026-10-25 00:59:00"),
]
"""Twelve books. Awkward on purpose: CJK, Greek, Polish and a 4-byte 𝔐; quotes, ``&``, ``<>``,
a backslash and ``%`` in titles; NULL authors, ISBNs, DOIs, licences and abstracts; hyphenated,
prefixed and wrong ISBNs; a withdrawn record; messy publisher spelling; an abstract over the
RSS limit; embargo ends at both Amsterdam DST switches of 2026."""

CHAPTERS = [
    (1, 6, "Introduction: What Is a Commons?", "1–18", "Smith, Anne;Jones, Bob", "10.1234/kc.ch1"),
    (2, 6, "Infrastructures of Openness: Repositories, Registries, Identifiers and the Long Work of Keeping "
     "Scholarly Records Findable, Accessible, Interoperable and Re-usable", "19–64", "Jones, Bob", None),
    (3, 2, "翻訳と近代", "65–90", "佐藤 花子", "10.5117/9789463721233.ch3"),
    (4, 8, "Water & Land <Rights>", "iii–xii", "", None),
]

PRICES = [
    ("9783839456781", "24.90", "EUR", "Commons economics in one page."),
    ("9789463721233", "0.00", "EUR", None),
    ("9783110638882", "119.95", "EUR", 'Summary with "quotes", commas, and a newline\nsecond line'),
    ("9789090102870", "0.06", "EUR", None),
    ("9783948064310", "1234567.89", "EUR", "Très cher."),
]

METADATA_RECORDS = [
    (H + "47301", "<record><title>Ökonomie der Gemeingüter</title><subject>  Economics </subject>"
     "<subject>COMMONS</subject></record>"),
    (H + "47302", '<?xml version="1.0" encoding="UTF-8"?>\n<record lang="ja"><title>日本の近代文学と翻訳</title>'
     "<subject>\n  Literature\n</subject><subject>Translation Studies</subject></record>"),
    (H + "47303", "<record><title>Café Society</title><subject>History</record>"),  # broken: stderr
    (H + "47304", '<record xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>𝔐athematical &amp; Metre'
     "</dc:title><subject>MATHEMATICS</subject><note><![CDATA[raw <text> & more]]></note></record>"),
]

TITLE_CHANGES = [
    (H + "47301", "Ökonomie der Gemeingüter", "Ökonomie der Gemeingüter", "2026-11-01"),  # unchanged
    (H + "47302", "Japanese Modern Literature\nand Translation",
     "日本の近代文学と翻訳\n(Japanese Modern Literature and Translation)", "2026-11-02"),
    (H + "47306", None, "Knowledge Commons and Scholarly Communication", "2026-11-03"),
    (H + "47309", "Climate Change Adaptation", "Climate Change Adaptation: Accounts of 0.1 °C", "2026-11-03"),
]


RECORD_BLOBS = [
    (H + "47301", "<?xml version='1.0' encoding='UTF-8'?><records><record><title> Ökonomie der Gemeingüter "
     "</title></record><record><title>Gemeingüter, 2. Auflage</title></record></records>".encode("utf-8")),
    (H + "47303", "<?xml version='1.0' encoding='ISO-8859-1'?><record><title>Café Society</title>"
     "<subtitle><title>Coffee Houses in Europe</title></subtitle></record>".encode("latin-1")),
    (H + "47304", "<record><title/><title>𝔐athematical Structures</title></record>".encode("utf-8")),
]
"""XML stored as bytes: UTF-8 and ISO-8859-1 (declared), nested and empty titles, a 4-byte 𝔐."""

DOWNLOADS = [
    (1, H + "47301", "Linux", "Firefox", "DE"), (2, H + "47301", "Windows", "Edge", "NL"),
    (3, H + "47302", "macOS", "Safari", "JP"), (4, H + "47302", "Windows", "Chrome", "JP"),
    (5, H + "47306", None, "curl", None), (6, H + "47306", "Linux", "Chrome", "ZA"),
    (7, H + "47308", "Android", "Chrome", "KE"), (8, H + "47308", "Windows", "Firefox", "GB"),
    (9, H + "47311", "iOS", "Safari", "IN"), (10, H + "47311", None, None, None),
]
"""Downloads with NULL operating systems (a bot, a blocked referrer)."""


def usage_rows(today: dt.date) -> list[tuple]:
    """Usage of the last three months, so that "the previous month" has rows whatever today is."""
    months, first = [], today.replace(day=1)
    for _ in range(3):
        months.append(first)
        first = (first - dt.timedelta(days=1)).replace(day=1)
    rows = []
    for m, month in enumerate(months):
        for item_id, base in ((1, 120), (2, 45), (3, 7), (6, 300), (8, 64), (9, 5), (11, 0)):
            views = 0 if item_id == 11 else base * 3 + m
            rows.append((item_id, month, base + 10 * m + item_id, views))
    return rows


def _item_rows(now: dt.datetime) -> list[tuple]:
    rows = []
    for row in ITEMS:
        row = list(row)
        accessioned = row[14]
        row[14] = now - dt.timedelta(days=accessioned, hours=1) if isinstance(accessioned, int) else accessioned
        rows.append(tuple(row))
    return rows


def create_library(admin_url: str) -> tuple[LibraryAccess, callable]:
    """The library under a random name with a reader of its own (SELECT only); and its drop."""
    suffix = secrets.token_hex(5)
    database, reader = f"memo_corpus_lib_{suffix}", f"memo_corpus_rd_{suffix}"
    engine, url = _admin_engine(admin_url)
    host, port = url.host or "127.0.0.1", url.port or 3306
    password = "p'w\"" + secrets.token_urlsafe(12)  # quotes: the sniplet's constant must be written right
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        conn.exec_driver_sql(f"USE `{database}`")
        for ddl in LIBRARY_TABLES:
            conn.exec_driver_sql(ddl)
        now = conn.exec_driver_sql("SELECT NOW()").scalar()
        inserts = {
            "item": (ITEM_COLUMNS, _item_rows(now)),
            "chapter": (("id", "item_id", "title", "pages", "authors", "doi"), CHAPTERS),
            "usage_stat": (("item_id", "month", "requests", "views"), usage_rows(now.date())),
            "price": (("isbn", "price", "currency", "executive_summary"), PRICES),
            "metadata_record": (("handle", "xml"), METADATA_RECORDS),
            "title_change": (("handle", "old_title", "new_title", "changed"), TITLE_CHANGES),
            "record_blob": (("handle", "data"), RECORD_BLOBS),
            "download": (("id", "handle", "os", "browser", "country"), DOWNLOADS),
        }
        for table, (columns, rows) in inserts.items():
            placeholders = ", ".join(["%s"] * len(columns))
            conn.exec_driver_sql(
                f"INSERT INTO {table} ({', '.join(f'`{c}`' for c in columns)}) VALUES ({placeholders})",
                [tuple(r) for r in rows],
            )
        for login in _reader_hosts(host):
            conn.exec_driver_sql("CREATE USER %s@%s IDENTIFIED BY %s", (reader, login, password))
            conn.exec_driver_sql(f"GRANT SELECT ON `{database}`.* TO %s@%s", (reader, login))
    engine.dispose()

    def drop() -> None:
        engine, _ = _admin_engine(admin_url)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SET SESSION lock_wait_timeout = 20")
                for login in ("127.0.0.1", "localhost", "%"):
                    conn.exec_driver_sql("DROP USER IF EXISTS %s@%s", (reader, login))
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{database}`")
        finally:
            engine.dispose()

    return LibraryAccess(host=host, port=port, user=reader, password=password, database=database), drop


# --- sniplets -----------------------------------------------------------------------------------

TEST_MYSQL_CONNECT = string.Template('''\
# The mysql_connect sniplet of the corpus runs: the API of the corpus's mysql_connect_sniplet.py,
# with constants that point at the test's library database and its read-only account. It keeps
# every connection it opens for the life of the script: a mysql.connector cursor holds only a
# weak reference to its connection, so `mysql_connect.connect().cursor()` (as most reports
# write it) would lose the connection at once ("Cursor is not connected").
import sys

import mysql.connector
from mysql.connector import errorcode

HOST = $host
PORT = $port
DATABASE = $database
USER = $user
PASSWORD = $password

_connections = []


def connect(password=None, **options):
    """Open a read-only connection to the library database."""
    settings = dict(host=HOST, port=PORT, database=DATABASE, user=USER, password=PASSWORD,
                    charset="utf8mb4", use_pure=True)
    settings.update(options)
    if password is not None:
        settings["password"] = password
    try:
        conn = mysql.connector.connect(**settings)
    except mysql.connector.Error as err:
        if err.errno == errorcode.ER_ACCESS_DENIED_ERROR:
            sys.stderr.write("access denied for %s\\n" % USER)
        raise
    _connections.append(conn)
    return conn


def cursor(conn=None, dictionary=False):
    conn = conn or connect()
    return conn.cursor(dictionary=dictionary, buffered=True)
''')

CORPUS_FILE = "<the corpus file>"
"""In an entry's ``sniplets``: this sniplet's body is the entry's corpus file itself."""


def render(template: str | string.Template, access: LibraryAccess) -> str:
    """A sniplet or driver with the library's coordinates written in as Python literals."""
    if isinstance(template, str):
        return template
    return template.substitute(host=repr(access.host), port=repr(access.port), database=repr(access.database),
                               user=repr(access.user), password=repr(access.password))


SNIPLETS = {"mysql_connect": TEST_MYSQL_CONNECT, "marc21": corpus_text("marc21_sniplet.py")}
"""The sniplets a tree gets by default, by the name scripts import them under."""


# --- library queries ---------------------------------------------------------------------------

FULL_TEXT_SEARCH_BY_TERM = """\
SELECT handle, title
  FROM item
 WHERE LOWER(CONCAT_WS(' ', title, abstract)) LIKE CONCAT('%', LOWER(%s), '%')
 ORDER BY id"""
"""``full_text_search`` as library_query_full_text.py calls it: one parameter, the term."""

FULL_TEXT_SEARCH_KBART = """\
-- full_text_search as kbart_csv.py calls it: no parameter (it runs the query as it is)
SELECT title, isbn, year, handle, author, publisher, open AS is_oa
  FROM item
 WHERE kind <> 'monograph' AND withdrawn = 0
   AND LOWER(CONCAT_WS(' ', title, abstract)) LIKE '%climate%'
 ORDER BY id"""
"""The same library query as kbart_csv.py calls it: WITHOUT a parameter. MEMO has one
``full_text_search`` row, so the two corpus scripts cannot both work against one MEMO
database: mysql.connector refuses a ``%s`` with no parameters and a parameter with no ``%s``.
The process runs build a tree per script; the container test runs them in separate rounds."""

CHAPTER_LIST = "SELECT c.id, c.title, c.pages FROM chapter c ORDER BY c.item_id, c.id"


# --- the entries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Volatile:
    """A part of a stream that depends on the clock or on chance, not on the guard.

    ``pattern`` (bytes, one group) must match at least once in both runs; each group's text
    is replaced by ``<volatile>`` before the bytes are compared.
    """

    stream: str  # "stdout" or "stderr"
    pattern: bytes
    why: str


@dataclass(frozen=True)
class Entry:
    file_name: str
    """The task's export, e.g. ``deleted.csv``: its own query is ``abccorp:deleted_csv``."""
    sql: str | None
    """That own query's SQL (``None``: the task has no query; the script holds its SQL)."""
    expect: tuple[str, ...]
    """Text the export must contain (the script read rows and formatted them)."""
    library: dict[str, str] = field(default_factory=dict)
    """Library queries by name."""
    sniplets: dict[str, str | string.Template] = field(default_factory=dict)
    """Sniplets by name, over ``SNIPLETS``; ``CORPUS_FILE`` for the entry's own file."""
    main: str | string.Template | None = None
    """For a corpus *sniplet*: the MAIN script that uses it (else the corpus file is main.py)."""
    expect_stderr: tuple[str, ...] = ()
    volatile: tuple[Volatile, ...] = ()
    gzip: bool = False
    """The export is gzip: ``expect`` is looked for in its decompressed text."""
    network: str = ""
    """What the script reaches beyond the database, and how the test keeps it on loopback."""


LINK = "CONCAT('https://library.oapen.org/handle/', handle)"

MARC21_DRIVER = string.Template('''\
# MARC summary through the marc21 sniplet (the corpus's marc21_sniplet.py): what marc_export.py
# does not use of it: len(), iteration, indicators, a field encoded on its own.
import sys

from sniplets import mysql_connect, marc21
from queries.abccorp import marc_summary_txt as mainquery


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    for handle, title, author, year in cursor:
        rec = marc21.Record()
        rec.add("245", a=title)
        if author:
            rec.add("100", a=author)
        rec.add("264", c=str(year))
        data = rec.as_marc()
        tags = " ".join(f.tag for f in rec)
        print("%s\\t%d fields\\t%d bytes\\t%s\\t%s" % (handle, len(rec), len(data), tags, data[:24].decode("ascii")))
        title_field = marc21.Field("245", indicators="10", a=title, c=author or "")
        print("  %r" % title_field.encode())
    sys.stdout.flush()


main()
''')

MYSQL_CONNECT_DRIVER = string.Template('''\
# Uses the corpus's own mysql_connect sniplet (mysql_connect_sniplet.py): its constants name the
# production server, so this task passes the test database's coordinates as options, first with a
# wrong password (the sniplet's access-denied branch), then the right one.
import sys

import mysql.connector

from sniplets import mysql_connect
from queries.abccorp import connect_check_txt as mainquery

TEST_DATABASE = dict(host=$host, port=$port, user=$user, database=$database)


def main():
    try:
        mysql_connect.connect(password="not-the-password", **TEST_DATABASE)
    except mysql.connector.Error as err:
        print("wrong password refused: errno %d" % err.errno)
    conn = mysql_connect.connect(password=$password, **TEST_DATABASE)
    cur = mysql_connect.cursor(conn, dictionary=True)
    cur.execute(mainquery.query)
    for row in cur.fetchall():
        print("%(handle)s\\t%(year)s\\t%(title)s" % row)
    print("default host %s, database %s, user %s" % (mysql_connect.HOST, mysql_connect.DATABASE, mysql_connect.USER))
    conn.close()
    sys.stdout.flush()


main()
''')

TYPED_HELPERS_DRIVER = string.Template('''\
# Access report through the typed_helpers sniplet (the corpus's typed_sniplet_helpers.py).
from sniplets import mysql_connect, typed_helpers
from queries.abccorp import access_txt as mainquery


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    books = typed_helpers.from_rows(cursor.fetchall())
    index = typed_helpers.index(books)
    for access in ("open", "closed", "embargoed"):
        for book in typed_helpers.by_access(books, access):
            print("%s\\t%s\\t%s" % (access, book.handle, book.title))
    print("# %d books, %d distinct handles" % (len(books), len(index)))


main()
''')


FIXTURES: dict[str, Entry] = {
    "comments_and_docstrings.py": Entry(
        "deleted.csv",
        "SELECT handle FROM item WHERE withdrawn = 1 ORDER BY handle",
        expect=("deleted\t20.500.12657/47305\n",),
        expect_stderr=("Use subprocess.run? No",),
    ),
    "crossref_deposit.py": Entry(
        "crossref.xml",
        f"SELECT title, doi, {LINK} AS url FROM item WHERE doi IS NOT NULL AND withdrawn = 0 ORDER BY id",
        expect=("<title>日本の近代文学と翻訳</title>",
                "<doi>10.1234/not-in-crossref</doi>", "<title>𝔐athematical Structures of Ṛgvedic Metre</title>",
                "Backslash and 100% Coverage</title>"),
        volatile=(Volatile("stdout", rb"<doi_batch_id>oapen-([0-9a-f]{12})</doi_batch_id>", "uuid4"),
                  Volatile("stdout", rb"<timestamp>(\d+)</timestamp>", "time.time()")),
    ),
    "dc_oai_records.py": Entry(
        "dc.xml",
        "SELECT handle, title, open FROM item WHERE withdrawn = 0 ORDER BY id",
        expect=("<dc:title>Ελληνική Φιλοσοφία και Επιστήμη</dc:title><dc:rights>Open Access</dc:rights>",
                "<dc:rights>All rights reserved</dc:rights>", "</records>\n"),
    ),
    "decimal_prices.py": Entry(
        "prices.csv",
        "SELECT isbn, price, currency, executive_summary FROM price ORDER BY isbn",
        expect=("isbn,price,vat,exec\r\n", "9783110638882,119.95,10.80,\"Summary with \"\"quotes\"\"",
                "9789090102870,0.06,0.01,\r\n", "9783948064310,1234567.89,111111.11,Très cher."),
        expect_stderr=("# total 1234712.80",),
    ),
    "doaj_xml_strings.py": Entry(
        "doaj.xml",
        f"SELECT title, open AS oa, {LINK} AS url FROM item WHERE withdrawn = 0 ORDER BY id",
        expect=("<title>Café Society &amp; the &quot;Public&quot; Sphere: &lt;Coffee&gt; Houses in Europe</title>",
                "<open>false</open>", "<os>linux</os>", "<!-- 11 records -->"),
    ),
    "embargo_generator.py": Entry(
        "embargo.csv",
        "SELECT handle, embargo_until FROM item ORDER BY id",
        expect=("20.500.12657/47303,2027-03-31\n", "20.500.12657/47301,\n", "20.500.12657/47312,2026-10-25\n"),
    ),
    "encoding_safe_output.py": Entry(
        "latin.csv",
        "SELECT handle, title, publisher, year FROM item ORDER BY id",
        expect=('"20.500.12657/47305","Żółć i gęśla jaźń: Polish Poetics","Ubiquity Press","2023"\r\n',
                '"Café Society & the ""Public"" Sphere'),
    ),
    "eval_metrics.py": Entry(
        "metrics.txt",
        "SELECT i.publisher, u.requests FROM usage_stat u JOIN item i ON i.id = u.item_id "
        "ORDER BY i.publisher, u.month",
        expect=("Amsterdam University Press", "transcript  verlag"),
        volatile=(Volatile("stderr", rb"# exec_time (\d+\.\d\d)s", "time.perf_counter()"),),
    ),
    "google_scholar_html.py": Entry(
        "scholar.html",
        "SELECT title, COALESCE(author, '') AS author, year, "
        "CONCAT('https://library.oapen.org/bitstream/handle/', handle, '/book.pdf') AS pdf "
        "FROM item WHERE open = 1 AND withdrawn = 0 ORDER BY id",
        expect=('<meta name="citation_title" content="An Open Book&#x27;s Apostrophe, a \\ Backslash and '
                '100% Coverage">',
                '<meta name="citation_author" content="D&#x27;Souza, Priya">',
                "bitstream/handle/20.500.12657/47302/book.pdf"),
    ),
    "grouped_report_classes.py": Entry(
        "grouped.txt",
        "SELECT title, publisher, year FROM item WHERE withdrawn = 0 ORDER BY id",
        expect=("TRANSCRIPT VERLAG\n   2021  Ökonomie der Gemeingüter\n   2024  Knowledge Commons",
                "UBIQUITY PRESS\n   2020  Café Society"),
    ),
    "gzip_bytes_feed.py": Entry(
        "dump_jsonl.gz",
        "SELECT i.id, i.handle, i.title, i.year, i.date_accessioned, i.embargo_until, p.price\n"
        "  FROM item i LEFT JOIN price p ON p.isbn = REPLACE(i.isbn, '-', '')\n ORDER BY i.id",
        gzip=True,
        expect=('"title": "日本の近代文学と翻訳"', '"price": "1234567.89"', '"embargo_until": null'),
        volatile=(Volatile("stdout", rb"\A\x1f\x8b\x08\x00([\x00-\xff]{4})", "gzip header mtime: time.time()"),
                  Volatile("stderr", rb"crc32=([0-9a-f]{8})", "CRC of the payload, which holds the mtime")),
    ),
    "html_report.py": Entry(
        "stats.html",
        "-- Übersicht: Downloads je Titel (\"views\" can be 0)\n"
        "SELECT i.title, SUM(u.requests) AS downloads, SUM(u.views) AS views, i.language\n"
        "  FROM item i JOIN usage_stat u ON u.item_id = i.id\n GROUP BY i.id, i.title, i.language\n ORDER BY i.id",
        expect=("<h1 id=\"open-access\">Open Access usage</h1>", "<td>日本の近代文学と翻訳</td>", "<li>eng: 5</li>"),
    ),
    "isbn_check.py": Entry(
        "isbn.txt",
        "SELECT handle, isbn FROM item ORDER BY id",
        expect=("20.500.12657/47302\t9789463721233\tok\n", "20.500.12657/47304\tNone\tinvalid\n",
                "20.500.12657/47309\t978-3-642-09876-0\tinvalid\n", "ISBN 978-1-83394-122-7\tinvalid",
                "# 4 invalid\n"),
    ),
    "iterparse_bytes_blob.py": Entry(
        "record_titles.txt",
        "SELECT handle, data FROM record_blob ORDER BY handle",
        expect=("20.500.12657/47301\tÖkonomie der Gemeingüter\n20.500.12657/47301\tGemeingüter, 2. Auflage\n",
                "20.500.12657/47303\tCafé Society\n20.500.12657/47303\tCoffee Houses in Europe\n",
                "20.500.12657/47304\t\n20.500.12657/47304\t𝔐athematical Structures\n"),
    ),
    "jats_chapters.py": Entry(
        "jats.xml",
        "SELECT c.title, c.pages, c.authors, c.doi FROM chapter c ORDER BY c.item_id, c.id",
        expect=("<contrib>Smith, Anne, Jones, Bob</contrib>", "Keeping Scholarly Records ...</title>",
                "<title>Water & Land <Rights> (iii–xii)</title><contrib>Anonymous</contrib><doi></doi>"),
    ),
    "json_api_dump.py": Entry(
        "partner.json",
        "SELECT i.id, i.handle, i.title, i.open AS is_open, i.date_accessioned, p.price\n"
        "  FROM item i LEFT JOIN price p ON p.isbn = REPLACE(i.isbn, '-', '')\n"
        " WHERE i.date_accessioned >= %(since)s AND i.withdrawn = 0\n ORDER BY i.id",
        expect=('"count": 9', '"title": "𝔐athematical Structures of Ṛgvedic Metre"', '"price": 1234567.89',
                '"access": "restricted"', '"price": null'),
        volatile=(Volatile("stdout", rb'"generated": "([0-9T:.-]+)"', "datetime.utcnow()"),),
    ),
    "kbart_csv.py": Entry(
        "kbart.txt",
        "SELECT title, isbn, year, handle, author, publisher, open AS is_oa\n"
        "  FROM item WHERE kind = 'monograph' AND withdrawn = 0 ORDER BY id",
        library={"full_text_search": FULL_TEXT_SEARCH_KBART},
        expect=("publication_title\tprint_identifier\t", "Ökonomie der Gemeingüter\t\t9783839456781\t2021\t",
                "\tfulltext\tBrill\tP\n", "Climate Change Adaptation: Accounts of 0.1 °C\t"),
        expect_stderr=("(KBART Phase II)",),
    ),
    "library_query_full_text.py": Entry(
        "fulltext.json",
        "SELECT id, handle, title, year, date_accessioned FROM item WHERE withdrawn = 0 ORDER BY id",
        library={"full_text_search": FULL_TEXT_SEARCH_BY_TERM, "chapter_list": CHAPTER_LIST},
        expect=('"chapters": 4', '"hits": [{"handle": "20.500.12657/47308", "title": "Climate Justice'),
    ),
    "logging_stderr.py": Entry(
        "audit.txt",
        "SELECT i.handle, i.title, p.price, i.embargo_until, i.license\n"
        "  FROM item i LEFT JOIN price p ON p.isbn = REPLACE(i.isbn, '-', '')\n ORDER BY i.id",
        expect=("20.500.12657/47301\tÖkonomie der Gemeingüter\t24.90\tNone\tCC BY 4.0\n",
                "\t2027-03-31 22:00:00\tNone\n"),
        expect_stderr=(" INFO exported 12 rows\n",),
        volatile=(Volatile("stderr", rb"(?m)^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", "logging's asctime"),),
    ),
    "marc21_sniplet.py": Entry(
        "marc_summary.txt",
        "SELECT handle, title, author, year FROM item WHERE withdrawn = 0 ORDER BY id",
        main=MARC21_DRIVER,
        sniplets={"marc21": CORPUS_FILE},
        expect=("20.500.12657/47310\t2 fields\t", "245 100 264\t", "b'10\\x1faKnowledge Commons"),
    ),
    "marc_export.py": Entry(
        "marc.mrc",
        "SELECT handle, COALESCE(isbn, ''), title, COALESCE(author, 'Anonymous'), year, publisher\n"
        "  FROM item WHERE withdrawn = 0 ORDER BY id",
        expect=("\x1faÖkonomie der Gemeingüter\x1e", "\x1fuhttps://library.oapen.org/handle/20.500.12657/47312\x1e\x1d",
                "\x1faAnonymous\x1e"),
    ),
    "match_statement_types.py": Entry(
        "kinds.txt",
        "SELECT title, kind, open FROM item ORDER BY id",
        expect=("Monograph: Ökonomie der Gemeingüter\nOpen Access record: Ökonomie der Gemeingüter\n",
                "Edited volume: Café Society", "Other\nOpen Access record: Żółć", "Other\nOther\n"),
    ),
    "mysql_connect_sniplet.py": Entry(
        "connect_check.txt",
        "SELECT handle, year, title FROM item WHERE language = 'ger' ORDER BY id",
        main=MYSQL_CONNECT_DRIVER,
        sniplets={"mysql_connect": CORPUS_FILE},
        expect=("wrong password refused: errno 1045\n", "20.500.12657/47312\t2017\tZeitgeschichte im Dialog\n",
                "default host oapen-db, database oapen_library, user memo_ro\n"),
        expect_stderr=("access denied for memo_ro\n",),
    ),
    "namedtuple_field_os.py": Entry(
        "downloads_by_os.csv",
        "SELECT handle, os, browser, country FROM download ORDER BY id",
        expect=("os,downloads\nWindows,3\nLinux,2\nunknown,2\nmacOS,1\nAndroid,1\niOS,1\n",),
    ),
    "onix_export.py": Entry(
        "onix.xml",
        "SELECT id, REPLACE(isbn, '-', '') AS isbn, title, license FROM item\n"
        " WHERE isbn IS NOT NULL AND title NOT LIKE '%\\\\_draft%' ESCAPE '\\\\' ORDER BY id",
        expect=("<RecordReference>org.oapen.2</RecordReference>", "<IDValue>9789463721233</IDValue>",
                "<TitleText>Café Society &amp; the \"Public\" Sphere: &lt;Coffee&gt; Houses in Europe</TitleText>",
                "<EpubLicense>Open Access</EpubLicense>"),
        volatile=(Volatile("stdout", rb"<SentDateTime>(\d{8}T\d{4})</SentDateTime>", "datetime.now()"),),
    ),
    "open_access_flags.py": Entry(
        "flags.csv",
        "SELECT handle, license FROM item ORDER BY id",
        expect=("20.500.12657/47307,Open Access\n", "20.500.12657/47310,Closed\n", "# open_access=9 opened=True\n"),
    ),
    "parameter_named_open.py": Entry(
        "oa_share.txt",
        "SELECT publisher, open FROM item WHERE withdrawn = 0 ORDER BY id",
        expect=("Amsterdam University Press: 2 open, 0 closed (100%)\n", "Brill: 0 open, 1 closed (0%)\n"),
    ),
    "pagination_api.py": Entry(
        "api.json",
        "SELECT handle, doi FROM item WHERE withdrawn = 0 ORDER BY id",
        expect=('"doi": "10.14361/9783839456781",\n    "cited_by": 42', '"doi": null,\n    "cited_by": null',
                '"doi": "10.1234/not-in-crossref",\n    "cited_by": null'),
        network=("https://api.crossref.org/works/<doi> for each DOI: through https_proxy/http_proxy to "
                 "FakeCrossref on 127.0.0.1 (a CONNECT tunnel with a test CA in SSL_CERT_FILE); in a "
                 "container (network none, only the database allowed) the connect fails, which the "
                 "script does not handle (it catches HTTPError only)"),
    ),
    "rss_feed.py": Entry(
        "new_titles.rss",
        None,  # the script holds its SQL: this week's titles (item.date_accessioned, seeded relative to NOW())
        expect=("<title>OAPEN new titles</title>", "<title>𝔐athematical Structures of Ṛgvedic Metre</title>",
                'isPermaLink="false">20.500.12657/47308</guid>', "Open access books are read in many places."),
        volatile=(Volatile("stdout", rb"<lastBuildDate>([^<]+)</lastBuildDate>", "datetime.now()"),),
    ),
    "sitemap_xml.py": Entry(
        "sitemap.xml",
        "SELECT handle, last_modified FROM item WHERE withdrawn = 0 ORDER BY handle",
        expect=("<loc>https://library.oapen.org/handle/20.500.12657/47301</loc>"
                "<lastmod>2026-11-30T08:15:00+00:00</lastmod>", "</urlset>\n"),
        network="none: it pings Google only with --ping, and MEMO runs main.py without arguments",
    ),
    "stored_xml_reformat.py": Entry(
        "stored.xml",
        "SELECT handle, xml FROM metadata_record ORDER BY handle",
        expect=("<?xml version='1.0' encoding='utf-8'?>", '<record lang="ja" handle="20.500.12657/47302">',
                "<subject>translation studies</subject>", "raw &lt;text&gt; &amp; more"),
        expect_stderr=("20.500.12657/47303: mismatched tag: line 1, column 53\n",),
    ),
    "title_changes_diff.py": Entry(
        "changes.txt",
        "SELECT handle, old_title, new_title FROM title_change ORDER BY changed, handle",
        expect=("--- 20.500.12657/47302@before\n+++ 20.500.12657/47302@after\n", "+日本の近代文学と翻訳\n",
                "+Knowledge Commons and Scholarly Communication\n# 20.500.12657/47306 "),
    ),
    "typed_sniplet_helpers.py": Entry(
        "access.txt",
        "SELECT handle, title, CASE WHEN open = 1 THEN 'open' WHEN embargo_until IS NOT NULL THEN 'embargoed'\n"
        "       WHEN license IS NULL THEN 'unknown' ELSE 'closed' END AS access\n  FROM item ORDER BY id",
        main=TYPED_HELPERS_DRIVER,
        sniplets={"typed_helpers": CORPUS_FILE},
        expect=("open\t20.500.12657/47301\t", "embargoed\t20.500.12657/47303\t", "# 12 books, 12 distinct handles"),
    ),
    "unicode_titles.py": Entry(
        "titles.txt",
        "SELECT title FROM item ORDER BY title",
        expect=("Cafe Society & the \"Public\" Sphere", "Okonomie der Gemeinguter\n", "Zoc i gesla jazn"),
        expect_stderr=("A title containing ｅｖａｌ('x') is just text 1\n",),
    ),
    "usage_stats_monthly.py": Entry(
        "counter.csv",
        "SELECT i.publisher, i.title, SUM(u.requests) AS requests\n"
        "  FROM usage_stat u JOIN item i ON i.id = u.item_id\n"
        " WHERE u.month BETWEEN %s AND %s\n GROUP BY i.publisher, i.title\n ORDER BY i.publisher, i.title",
        expect=("Report_Period,", "Publisher,Title,", "African Minds,Climate Justice in the Global South,82,82\r\n",
                "Amsterdam University Press,TOTAL,,57\r\n"),
    ),
    "zoned_timestamps.py": Entry(
        "embargo.txt",
        "SELECT handle, embargo_until FROM item WHERE embargo_until IS NOT NULL ORDER BY id",
        expect=("20.500.12657/47303\t2027-04-01T00:00+02:00\n", "20.500.12657/47311\t2026-03-29T03:30+02:00\n",
                "20.500.12657/47312\t2026-10-25T02:59+02:00\n", "20.500.12657/47310\t2027-01-01T00:00+01:00\n"),
    ),
}


def missing_entry_message(name: str) -> str:
    return (f"{name} is in tests/guard/corpus/accepted/ but has no entry in tests/corpus_fixtures.py: add "
            f"FIXTURES[{name!r}] = Entry(<its task's file name>, <the SQL of the query it imports as "
            f"mainquery>, expect=(<text its export must show>,), ...) — with rows for any table it reads "
            f"that the library does not have yet, its library queries, and Volatile parts if its output "
            f"holds the clock or chance")


# --- the script tree, as the runner lays it out ----------------------------------------------


class _Library:
    """``LibraryLookup`` over one entry's sniplets and library queries (as the runner's, by name)."""

    def __init__(self, sniplets: dict[str, str], queries: dict[str, str]):
        self.sniplets, self.queries = sniplets, queries

    def sniplet(self, name):
        body = self.sniplets.get(name)
        return None if body is None else Script(id=f"snip-{name}", name=name, type="SNIP", body=body)

    def query(self, name):
        body = self.queries.get(name)
        return None if body is None else Query(id=f"query-{name}", name=name, body=body, is_library=True)


def main_body(name: str, entry: Entry, access: LibraryAccess) -> str:
    return corpus_text(name) if entry.main is None else render(entry.main, access)


def sniplet_bodies(name: str, entry: Entry, access: LibraryAccess) -> dict[str, str]:
    chosen = {**SNIPLETS, **entry.sniplets}
    return {k: corpus_text(name) if v == CORPUS_FILE else render(v, access) for k, v in chosen.items()}


def task_spec(name: str, entry: Entry, access: LibraryAccess) -> TaskSpec:
    script_name = main_script_name(USERNAME, entry.file_name)
    own = None if entry.sql is None else Query(id="own", name=script_name, body=entry.sql)
    task = Task(id="corpus-" + Path(name).stem, username=USERNAME, file_name=entry.file_name, frequency="D",
                start_date=dt.date(2024, 1, 1), script_id="main")
    script = Script(id="main", name=script_name, type="MAIN", body=main_body(name, entry, access),
                    query_id=None if own is None else own.id)
    return TaskSpec(task=task, script=script, own_query=own)


def plan_files(name: str, entry: Entry, access: LibraryAccess) -> dict[str, str]:
    """The tree's files, by the runner's own code: its import resolution (which raises
    ``DependencyError`` naming what the entry lacks) and ``plan_tree``."""
    spec = task_spec(name, entry, access)
    deps = resolve_dependencies(spec, _Library(sniplet_bodies(name, entry, access), entry.library))
    return plan_tree(spec, deps)


def library_needs(name: str, entry: Entry, access: LibraryAccess) -> dict[tuple[str, str], str]:
    """The library rows the task needs, as the runner resolves them: (``"query"``/``"sniplet"``, name) → body."""
    spec = task_spec(name, entry, access)
    deps = resolve_dependencies(spec, _Library(sniplet_bodies(name, entry, access), entry.library))
    needs = {("sniplet", s.name): s.body for s in deps.sniplets.values()}
    needs.update({("query", q.name): q.body for q in deps.queries.values() if q.is_library})
    return needs


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write the files as ``ScriptTree`` does (utf-8, no newline translation, 0644 in 0755)."""
    root.mkdir(parents=True, mode=0o755)
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        with open(target, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        target.chmod(0o644)
    return root


# --- a public API, on loopback -------------------------------------------------------------------

CROSSREF_HOST = "api.crossref.org"
CITED_BY = {
    "10.14361/9783839456781": 42, "10.5117/9789463721233": 7, "10.11588/heibup.1234": 0,
    "10.47622/9789090102870": 3, "10.5334/bce": 12, "10.28938/9780995527744": 1,
}
"""What the fake Crossref answers per DOI; any other DOI is a 404 (HTTPError, which the script handles)."""


class FakeCrossref:
    """An HTTP(S) proxy on 127.0.0.1 that plays api.crossref.org and refuses every other host.

    urllib honours ``https_proxy``/``http_proxy``: with them pointing here, a script's
    ``urlopen("https://api.crossref.org/...")`` opens a CONNECT tunnel to this server, not
    a connection to the internet (and no name is looked up: the proxy gets the name). The
    tunnel's TLS uses a certificate for api.crossref.org from a CA made for this run, which
    the scripts trust through ``SSL_CERT_FILE`` (OpenSSL reads it, not Python: ``-I`` keeps it).
    ``requests`` records every request: (method, target, answer).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.ca_file, cert_file, key_file = _make_certificates(self.folder, CROSSREF_HOST)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert_file, key_file)
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        outer = self

        class Inner(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                doi = self.path.removeprefix("/works/")
                if self.path.startswith("/works/") and doi in CITED_BY:
                    body = ('{"status": "ok", "message-type": "work", "message": {"DOI": "%s", '
                            '"is-referenced-by-count": %d}}' % (doi, CITED_BY[doi])).encode()
                    code = 200
                else:
                    body, code = b'{"status": "error", "message": "Resource not found."}', 404
                outer._record("GET", f"https://{CROSSREF_HOST}{self.path}", code)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Proxy(http.server.BaseHTTPRequestHandler):
            def do_CONNECT(self):
                if self.path != f"{CROSSREF_HOST}:443":
                    outer._record("CONNECT", self.path, 403)
                    self.send_error(403, "only api.crossref.org here")
                    return
                outer._record("CONNECT", self.path, 200)
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                try:
                    tls = outer.tls.wrap_socket(self.connection, server_side=True)
                except (ssl.SSLError, OSError):
                    self.close_connection = True
                    return
                Inner(tls, self.client_address, self.server)
                self.close_connection = True

            def _refuse(self):
                outer._record(self.command, self.path, 403)
                self.send_error(403, "no plain-HTTP proxying here")

            do_GET = do_POST = do_HEAD = do_PUT = _refuse

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _record(self, method: str, target: str, code: int) -> None:
        with self._lock:
            self.requests.append((method, target, code))

    def environment(self) -> dict[str, str]:
        """The sandbox environment that keeps urllib on this proxy."""
        return {"https_proxy": self.url, "http_proxy": self.url, "HTTPS_PROXY": self.url,
                "HTTP_PROXY": self.url, "SSL_CERT_FILE": str(self.ca_file)}

    def __enter__(self) -> "FakeCrossref":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _make_certificates(folder: Path, host: str) -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "memo-taskrunner corpus test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "crossref.pem", folder / "crossref.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


# --- comparing two runs ---------------------------------------------------------------------------

LIBRARY_MARKER = b"memo-guard: refused in a library"


def strip_library_refusals(stderr: bytes, nonce: str) -> tuple[bytes, list[list[str]]]:
    """stderr without the launcher's ``refused in a library`` lines of this run; and their fields.

    The launcher writes each as ``"\\n" + MARKER \\t nonce \\t event \\t file \\t line \\t what + "\\n"``
    when it refuses a library's call that the library may survive (mysql.connector probes
    ``lsb_release`` at every connect). Only lines with the run's nonce are the launcher's.
    """
    line = re.compile(rb"\n" + re.escape(LIBRARY_MARKER + b"\t" + nonce.encode() + b"\t") + rb"([^\n]*)\n")
    fields = [m.group(1).decode("utf-8", "replace").split("\t") for m in line.finditer(stderr)]
    return line.sub(b"", stderr), fields


def mask(data: bytes, entry: Entry, stream: str) -> tuple[bytes, list[str]]:
    """``data`` with the entry's volatile parts of ``stream`` masked; and the patterns that matched nothing."""
    unmatched = []
    for volatile in entry.volatile:
        if volatile.stream != stream:
            continue
        pattern = re.compile(volatile.pattern)
        if not pattern.search(data):
            unmatched.append(f"{volatile.pattern!r} ({volatile.why})")
            continue
        data = pattern.sub(lambda m: m.group(0)[: m.start(1) - m.start(0)] + b"<volatile>"
                           + m.group(0)[m.end(1) - m.start(0):], data)
    return data, unmatched


# --- running a tree as the process sandbox does -------------------------------------------------

RUN_TIMEOUT = 60

def launcher_policy() -> dict:
    """What the runner gives the launcher: ``runtime_policy`` of MEMO's default allow-list."""
    policy = runtime_policy(default_policy())
    assert policy is not None, "the default policy enforces nothing at run time"
    return policy


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: bytes
    stderr: bytes
    seconds: float

    def describe(self) -> str:
        return (f"exit {self.returncode} after {self.seconds:.2f}s; stdout {len(self.stdout)} bytes; stderr:\n"
                + self.stderr.decode("utf-8", "replace")[-3000:])


def run_job(sandbox, job) -> Run:
    """One run with exactly the process sandbox's command and environment, stdout and stderr kept whole."""
    started = time.monotonic()
    proc = subprocess.run(sandbox.command(job), cwd=job.tree, env=sandbox._env(job), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=RUN_TIMEOUT, start_new_session=True)
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def tree_files(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()}



def payload(entry, stdout: bytes) -> str:
    return (gzip.decompress(stdout) if entry.gzip else stdout).decode("utf-8")


def diff(a: bytes, b: bytes, names=("bare", "launched")) -> str:
    import difflib

    lines = difflib.unified_diff(a.decode("utf-8", "replace").splitlines(), b.decode("utf-8", "replace").splitlines(),
                                 *names, lineterm="", n=1)
    return "\n".join(list(lines)[:60])
