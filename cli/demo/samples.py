"""The embedded demo's MEMO data: clients, library items, scripts, queries and tasks.

``seed_demo`` fills a MEMO database (the tables of ``memo.schema``) the way MEMO
Manager would have: three clients, a small library of sniplets and queries, and
one task per export format, all due on the given day, plus a task that is not
due that day, one that has not started yet and an inactive one.

The scripts read a small sample of the OAPEN library (fictional records,
``DEMO_LIBRARY_ROWS``) from a MariaDB/MySQL database, through the ``mysql_connect``
sniplet, as production scripts reach the real library: ``cli.demo.run`` creates
that database and a read-only account, and ``seed_demo`` writes their coordinates
(``LibraryAccess``) into the sniplet, since a script can read neither the
environment nor a file. The SQL is MariaDB's dialect.

Every script body keeps to what MEMO's Code Guard allows: no file, process,
environment or dynamic-import access, output to stdout only. Output depends only
on the sample data, never on the clock, so a given day always gives the same files.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from memo.models import main_script_name
from memo.schema import homedir, query, script, task

DEMO_USER = "memo-demo"
"""``updated_by`` of every demo row."""

DEMO_LIBRARY_COLUMNS: tuple[str, ...] = (
    "id", "title", "author", "publisher", "year", "isbn", "handle", "doi",
    "subject", "language", "license", "added",
)
"""Columns of the sample library's ``book`` table, in the order of ``DEMO_LIBRARY_ROWS``."""

# Fictional open-access monographs: id, title, author, publisher, year, ISBN-13,
# OAPEN handle, DOI, subject, language (ISO 639-1), licence (None: unknown), added.
DEMO_LIBRARY_ROWS: tuple[tuple, ...] = (
    (1, 'The Politics of Open Access Publishing', 'Hanna de Vries', 'Amsterdam University Press', 2021, '9789462980372', '20.500.12657/58113', '10.5117/9789462980372', 'Publishing', 'en', 'CC BY 4.0', '2023-02-13'),
    (2, 'Die Ökonomie der Wissenschaft: Märkte, Normen und Anreize', 'Jürgen Müller', 'transcript Verlag', 2020, '9783837650747', '20.500.12657/58226', '10.14361/9783837650747', 'Ökonomie', 'de', 'CC BY-SA 4.0', '2023-03-13'),
    (3, '日本の近代文学と翻訳', '山田 花子', 'Kyoto University Press', 2022, '9784814001118', '20.500.12657/58339', '10.14989/kup.121', '日本研究', 'ja', 'CC BY-NC-ND 4.0', '2023-03-30'),
    (4, 'Knowledge Commons & Scholarly Communication', 'Rebecca Okafor', 'Open Book Publishers', 2019, '9781800641488', '20.500.12657/58452', '10.11647/OBP.0128', 'Information science', 'en', 'CC BY 4.0', '2023-04-27'),
    (5, '"Fake News" and Public Trust in Europe', 'Lars Sørensen', 'Stockholm University Press', 2023, '9789176351857', '20.500.12657/58565', '10.16993/bbf', 'Media studies', 'en', 'CC BY 4.0', '2023-05-14'),
    (6, "L'édition scientifique en accès ouvert", 'Camille Lefèvre', 'Presses universitaires de Liège', 2018, '9782875622228', '20.500.12657/58678', '10.4000/books.pulg.142', 'Publishing', 'fr', 'CC BY-NC 4.0', '2023-06-11'),
    (7, 'Historia de la edición en América Latina', 'María José Fernández', 'Ediciones Universidad de Salamanca', 2020, '9788413112596', '20.500.12657/58791', '10.14201/149', 'Book history', 'es', 'CC BY-NC-SA 4.0', '2023-06-28'),
    (8, 'Water Governance in the Rhine Delta', 'Pieter Jansen', 'Leiden University Press', 2017, '9789087282967', '20.500.12657/58904', '10.24415/9789087282967', 'Environmental policy', 'en', 'CC BY-NC 4.0', '2023-07-26'),
    (9, 'A Descriptive Grammar of Teop Clauses', 'Ruth Baldauf', 'Language Science Press', 2021, '9783961103331', '20.500.12657/59017', '10.5281/zenodo.7011799', 'Linguistics', 'en', 'CC BY 4.0', '2023-08-12'),
    (10, 'Migration, Memory and the City: Łódź 1945–1989', 'Agnieszka Kowalczyk', 'UCL Press', 2022, '9781787353701', '20.500.12657/59130', '10.14324/111.9781787353701', 'History', 'en', 'CC BY 4.0', '2023-09-09'),
    (11, 'Ökonomie des Teilens: Plattformen und Gemeingüter', 'Katrin Weiß', 'transcript Verlag', 2024, '9783837654073', '20.500.12657/59243', '10.14361/9783837654073', 'Ökonomie', 'de', 'CC BY 4.0', '2023-09-26'),
    (12, "Digital Humanities in Practice: Europe's Archives Online", 'Tomás Ó Briain', 'Ubiquity Press', 2020, '9781911524441', '20.500.12657/59356', '10.5334/bbm', 'Digital humanities', 'en', 'CC BY 4.0', '2023-10-24'),
    (13, 'Climate Justice and the Global South', 'Amina Diallo', 'Springer Nature', 2023, '9783031204814', '20.500.12657/59469', '10.1007/978-3-031-20481-4', 'Environmental policy', 'en', 'CC BY 4.0', '2023-11-21'),
    (14, 'Open Science Policies_draft', 'Hanna de Vries', 'Amsterdam University Press', 2025, '9789462985186', '20.500.12657/59582', '10.5117/9789462985186', 'Research policy', 'en', 'CC BY 4.0', '2023-12-08'),
    (15, 'Photography and Colonial Archives in Indonesia', 'Dewi Hartono', 'Leiden University Press', 2019, '9789087285555', '20.500.12657/59695', '10.24415/9789087285555', 'History', 'en', 'CC BY-NC-ND 4.0', '2024-01-05'),
    (16, '戦後日本の経済思想', '佐藤 健', 'Kyoto University Press', 2021, '9784814005925', '20.500.12657/59808', '10.14989/kup.212', '日本研究', 'ja', 'CC BY 4.0', '2024-01-22'),
    (17, "Zoë's Atlas: Mapping Children's Literature", 'Zoë Hartley', 'Open Book Publishers', 2022, '9781800646292', '20.500.12657/59921', '10.11647/OBP.0219', 'Literature', 'en', 'CC BY 4.0', '2024-02-19'),
    (18, 'The Economics of Public Libraries', 'Samuel Adeyemi', 'UCL Press', 2018, '9781787356665', '20.500.12657/60034', '10.14324/111.9781787356665', 'Economics', 'en', 'CC BY 4.0', '2024-03-07'),
    (19, 'Nachhaltige Stadtplanung in Mitteleuropa', 'Stefan Gruber', 'Universitätsverlag Göttingen', 2019, '9783863957032', '20.500.12657/60147', '10.17875/gup2019-233', 'Urban studies', 'de', 'CC BY-SA 4.0', '2024-04-04'),
    (20, "Storia dell'editoria universitaria italiana", 'Giulia Romano', 'Firenze University Press', 2020, '9788855187404', '20.500.12657/60260', '10.36253/978-88-5518-740-4', 'Publishing', 'it', 'CC BY 4.0', '2024-04-21'),
    (21, 'Algorithms, Bias and the Law', 'Priya Raman', 'MIT Press', 2024, '9780262547772', '20.500.12657/60373', '10.7551/mitpress/7027531.001.0001', 'Law', 'en', 'CC BY-NC-ND 4.0', '2024-05-19'),
    (22, 'Weeds: A Cultural History', 'Eamon Kelly', 'punctum books', 2021, '9781685718145', '20.500.12657/60486', '10.53288/0254.1.00', 'Cultural studies', 'en', 'CC BY-NC-SA 4.0', '2024-06-05'),
    (23, 'Het boek in de Gouden Eeuw', 'Marieke van den Berg', 'Amsterdam University Press', 2017, '9789462988514', '20.500.12657/60599', '10.5117/9789462988514', 'Book history', 'nl', 'CC BY-NC 4.0', '2024-07-03'),
    (24, 'Rural Futures: Agriculture after Subsidies', 'Ingrid Halvorsen', 'Stockholm University Press', 2022, '9789176358887', '20.500.12657/60712', '10.16993/bby', 'Agriculture', 'en', 'CC BY 4.0', '2024-07-31'),
    (25, 'Marx und die Ökonomie der Zeit', 'Felix Hartmann', 'transcript Verlag', 2018, '9783837659252', '20.500.12657/60825', '10.14361/9783837659252', 'Ökonomie', 'de', 'CC BY-NC-ND 4.0', '2024-08-17'),
    (26, 'Sign Languages of the Pacific', 'Leilani Kahale', 'Language Science Press', 2023, '9783961109623', '20.500.12657/60938', '10.5281/zenodo.7034086', 'Linguistics', 'en', 'CC BY 4.0', '2024-09-14'),
    (27, 'Public Health and Pandemic Preparedness', 'Chen Wei', 'Springer Nature', 2021, '9783031209994', '20.500.12657/61051', '10.1007/978-3-031-20999-4', 'Medicine', 'en', 'CC BY 4.0', '2024-10-01'),
    (28, 'Museums, Repatriation and Restitution', 'Kwame Mensah', 'UCL Press', 2023, '9781787350366', '20.500.12657/61164', '10.14324/111.9781787350366', 'Museum studies', 'en', 'CC BY 4.0', '2024-10-29'),
    (29, 'Translating Haiku: 日本 and the West', 'Emily Carter', 'Open Book Publishers', 2020, '9781800640733', '20.500.12657/61277', '10.11647/OBP.0303', '日本研究', 'en', 'CC BY 4.0', '2024-11-15'),
    (30, 'La ville intelligente en question', 'Julien Moreau', 'Presses universitaires de Liège', 2024, '9782875621108', '20.500.12657/61390', '10.4000/books.pulg.310', 'Urban studies', 'fr', 'CC BY 4.0', '2024-12-13'),
    (31, 'Arctic Indigenous Governance', 'Áile Somby', 'Stockholm University Press', 2019, '9789176351475', '20.500.12657/61503', '10.16993/bbf', 'Political science', 'en', 'CC BY 4.0', '2024-12-30'),
    (32, 'Women in Science: Dutch Universities 1900–1960', 'Anneke Bos', 'Leiden University Press', 2021, '9789087281847', '20.500.12657/61616', '10.24415/9789087281847', 'History', 'en', 'CC BY 4.0', '2025-01-27'),
    (33, 'Commons-Based Peer Production', 'Daniel Costa', 'Ubiquity Press', 2018, '9781911522218', '20.500.12657/61729', '10.5334/bbh', 'Economics', 'en', 'CC BY 4.0', '2025-02-13'),
    (34, 'Quantum Computing for Humanists', 'Sara Lindqvist', 'Open Book Publishers', 2024, '9781800642584', '20.500.12657/61842', '10.11647/OBP.0338', 'Digital humanities', 'en', 'CC BY 4.0', '2025-03-13'),
    (35, 'Postcolonial Readings of the Dutch Caribbean', 'Ruben Martina', 'Amsterdam University Press', 2022, '9789462982956', '20.500.12657/61955', '10.5117/9789462982956', 'Literature', 'en', 'CC BY-NC-ND 4.0', '2025-04-10'),
    (36, 'Die Stadt als Labor: Reallabore in der Forschung', 'Lena Schmidt', 'Universitätsverlag Göttingen', 2023, '9783863953324', '20.500.12657/62068', '10.17875/gup2023-352', 'Urban studies', 'de', 'CC BY 4.0', '2025-04-27'),
    (37, 'Ethics of Care in Nursing Practice', 'Maria Gonzalez', 'Springer Nature', 2020, '9783031203695', '20.500.12657/62181', '10.1007/978-3-031-20369-5', 'Medicine', 'en', 'CC BY 4.0', '2025-05-25'),
    (38, 'Medieval Manuscripts of the Low Countries', 'Joost Hendriks', 'Amsterdam University Press', 2019, '9789462984066', '20.500.12657/62294', '10.5117/9789462984066', 'Book history', 'en', None, '2025-06-11'),
    (39, 'Energy Transitions in Southeast Asia', 'Nguyễn Thị Lan', 'Springer Nature', 2025, '9783031204432', '20.500.12657/62407', '10.1007/978-3-031-20443-2', 'Environmental policy', 'en', 'CC BY 4.0', '2025-07-09'),
    (40, 'Philosophy of Open Knowledge', 'Iris Novak', 'punctum books', 2025, '9781685714802', '20.500.12657/62520', '10.53288/0380.1.00', 'Philosophy', 'en', 'CC BY-NC-SA 4.0', '2025-07-26'),
    (41, 'Economic Thought in Meiji Japan', 'Takeshi Ito', 'Kyoto University Press', 2025, '9784814005178', '20.500.12657/62633', '10.14989/kup.387', '日本研究', 'en', 'CC BY 4.0', '2025-08-23'),
    (42, 'Open Access Books: A Practical Guide', 'Jasper Kok', 'Amsterdam University Press', 2025, '9789462985544', '20.500.12657/62746', '10.5117/9789462985544', 'Publishing', 'en', 'CC BY 4.0', '2025-09-09'),
)
"""Records of the sample library's ``book`` table (``added`` is a DATE)."""

DEMO_LIBRARY_TABLE = """\
CREATE TABLE book (
    id        INT NOT NULL PRIMARY KEY,
    title     VARCHAR(500) NOT NULL,
    author    VARCHAR(255) NOT NULL,
    publisher VARCHAR(255) NOT NULL,
    year      SMALLINT NOT NULL,
    isbn      CHAR(13) NOT NULL UNIQUE,
    handle    VARCHAR(64) NOT NULL UNIQUE,
    doi       VARCHAR(255),
    subject   VARCHAR(255),
    language  CHAR(2),
    license   VARCHAR(64),
    added     DATE NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
"""
"""The sample library's one table, in MariaDB's dialect; binary collation, so text sorts by code point."""


@dataclass(frozen=True)
class LibraryAccess:
    """Where and as whom the scripts reach the sample library (a read-only account)."""

    host: str
    port: int
    user: str
    password: str
    database: str


# --------------------------------------------------------------------------------------
# Sniplets (``script`` rows of type SNIP)
# --------------------------------------------------------------------------------------

OAPEN_RECORDS_SNIP = r'''"""Reading OAPEN library records as dictionaries, with their public links.

Opens the library database through the mysql_connect sniplet.
"""
from sniplets import mysql_connect

HANDLE_URL = "https://library.oapen.org/handle/"
DOI_URL = "https://doi.org/"


def connect():
    """A DB-API connection to the library database."""
    return mysql_connect.connect()


def dict_rows(cursor):
    """The rest of the cursor's result as a list of dicts keyed by column name."""
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def handle_url(handle):
    """The landing page of a book in the OAPEN library."""
    return HANDLE_URL + handle


def doi_url(doi):
    """The resolver link of a DOI, or None."""
    return DOI_URL + doi if doi else None
'''

XML_HELPERS_SNIP = r'''"""XML helpers for MEMO scripts: escaping and building elements as text.

Build documents piece by piece and write them to stdout as they grow, so a large
export never has to sit in memory whole:

    sys.stdout.write(xml_helpers.declaration())
    sys.stdout.write(xml_helpers.start("titles", count=3))
    sys.stdout.write(xml_helpers.element("title", "Bits & Bytes", lang="en"))
    sys.stdout.write(xml_helpers.end("titles"))
"""
import re
from xml.sax.saxutils import escape, quoteattr

# Characters XML 1.0 does not allow, even escaped.
INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(value):
    """The value as text without characters that XML 1.0 forbids."""
    return INVALID_CHARS.sub("", str(value))


def text(value):
    """The value as escaped character data."""
    return escape(clean(value))


def attributes(values):
    """' name="value"' for each pair whose value is not None; 'class_' gives 'class'."""
    parts = []
    for name, value in values.items():
        if value is not None:
            parts.append(" %s=%s" % (name.rstrip("_"), quoteattr(clean(value))))
    return "".join(parts)


def start(name, **attrs):
    return "<%s%s>" % (name, attributes(attrs))


def end(name):
    return "</%s>" % name


def element(name, value=None, **attrs):
    """A complete element; an empty one when value is None or ''."""
    if value is None or value == "":
        return "<%s%s/>" % (name, attributes(attrs))
    return start(name, **attrs) + text(value) + end(name)


def declaration():
    return '<?xml version="1.0" encoding="UTF-8"?>\n'
'''

MYSQL_CONNECT_SNIP_TEMPLATE = r'''"""Connection to the OAPEN library database (MariaDB/MySQL), as a read-only account.

The account may only SELECT. Like every MEMO sniplet that reaches a database, this
one holds its connection parameters: a script can read neither the environment
nor a file. (In the demo they point at the sample library that
`memo-taskrunner demo` creates, with a password made for that run.)

SQL for it is MariaDB's dialect, in the server's default sql_mode: a backslash in
a string literal is an escape, and || is OR (use CONCAT).

Usage:

    from sniplets import mysql_connect
    connection = mysql_connect.connect()
    cursor = connection.cursor()
    cursor.execute(mainquery.query)
"""
import mysql.connector

HOST = @HOST@
PORT = @PORT@
USER = @USER@
PASSWORD = @PASSWORD@
DATABASE = @DATABASE@


def connect():
    """A new connection to the library database (the pure-Python protocol, utf8mb4)."""
    return mysql.connector.connect(
        host=HOST,
        port=PORT,
        user=USER,
        password=PASSWORD,
        database=DATABASE,
        charset="utf8mb4",
        use_pure=True,
    )
'''


def mysql_connect_body(library: LibraryAccess) -> str:
    """The ``mysql_connect`` sniplet for these coordinates (each a Python literal)."""
    body = MYSQL_CONNECT_SNIP_TEMPLATE
    for name in ("host", "port", "user", "password", "database"):
        body = body.replace(f"@{name.upper()}@", repr(getattr(library, name)))
    return body


# --------------------------------------------------------------------------------------
# Library queries (``query`` rows with is_library=1)
# --------------------------------------------------------------------------------------

BOOKS_BY_YEAR_QUERY = """\
-- Number of books per year of publication, newest year first.
SELECT year, COUNT(*) AS books
FROM book
GROUP BY year
ORDER BY year DESC
"""

FULL_TEXT_SEARCH_QUERY = """\
-- Books whose title, author or subject contains a term, in any case:
-- cursor.execute(query, {"term": "%open%"}) (the table's collation is binary, so LOWER both sides).
SELECT id, title, author, year, handle
FROM book
WHERE LOWER(title) LIKE LOWER(%(term)s) OR LOWER(author) LIKE LOWER(%(term)s)
   OR LOWER(subject) LIKE LOWER(%(term)s)
ORDER BY year DESC, title
"""


# --------------------------------------------------------------------------------------
# Tasks' own queries and MAIN scripts, one pair per task
# --------------------------------------------------------------------------------------

# abccorp/titles.xml -----------------------------------------------------------------

TITLES_XML_QUERY = """\
-- Every title in the library, oldest publication year first.
SELECT id, title, author, publisher, year, isbn, doi, handle, subject, language, license
FROM book
ORDER BY year, id
"""

TITLES_XML_MAIN = r'''"""abccorp/titles.xml: every title in the OAPEN library as a flat XML list."""
import sys

from queries.abccorp import titles_xml as mainquery
from sniplets import mysql_connect, xml_helpers

FIELDS = ("title", "author", "publisher", "year", "isbn", "doi", "subject", "language", "license")

sys.stdout.reconfigure(encoding="utf-8")

connection = mysql_connect.connect()
cursor = connection.cursor()
cursor.execute(mainquery.query)
names = [column[0] for column in cursor.description]
rows = cursor.fetchall()

out = sys.stdout
out.write(xml_helpers.declaration())
out.write(xml_helpers.start("titles", source="OAPEN Library", count=len(rows)) + "\n")
for row in rows:
    book = dict(zip(names, row))
    out.write("  " + xml_helpers.start("book", id=book["id"], handle=book["handle"]) + "\n")
    for field in FIELDS:
        out.write("    " + xml_helpers.element(field, book[field]) + "\n")
    url = "https://library.oapen.org/handle/" + book["handle"]
    out.write("    " + xml_helpers.element("url", url) + "\n")
    out.write("  " + xml_helpers.end("book") + "\n")
out.write(xml_helpers.end("titles") + "\n")
connection.close()
'''

# unipress/titles.csv: the query that carries every kind of quoting ------------------

TITLES_CSV_QUERY = (
    "-- unipress/titles.csv: every title, Ökonomie and 日本 (日本研究) subjects first.\n"
    "-- Drafts (a title with '_draft') are withheld. In MariaDB's default sql_mode a backslash\n"
    "-- in a string literal is an escape: '%\\\\_draft%' is the LIKE pattern %\\_draft%, where \\_\n"
    "-- is a literal '_', and ESCAPE '\\\\' names that one backslash. (Under NO_BACKSLASH_ESCAPES\n"
    "-- ESCAPE '\\\\' is two characters and MariaDB refuses the query: it never matches wrongly.)\n"
    "-- The runner must pass this text unchanged: ''' and \"\"\" and \\ and \"quotes\".\n"
    "SELECT b.isbn AS \"ISBN\",\n"
    "       b.title AS \"Title\",\n"
    "       b.author AS \"Author\",\n"
    "       b.publisher AS \"Publisher\",\n"
    "       b.year AS \"Year\",\n"
    "       b.subject AS \"Subject\",\n"
    "       COALESCE(b.license, 'unknown – ask the publisher''s rights desk') AS \"Licence\",\n"
    "       CONCAT(b.author, ', \"', b.title, '\" (', b.year, ')') AS \"Citation\",\n"
    "       CONCAT('https://library.oapen.org/handle/', b.handle) AS \"URL\"\n"
    "FROM book AS b\n"
    "WHERE b.title NOT LIKE '%\\\\_draft%' ESCAPE '\\\\'\n"
    "ORDER BY CASE WHEN b.subject IN ('Ökonomie', '日本研究') THEN 0 ELSE 1 END,\n"
    "         b.year DESC, b.title\n"
)

TITLES_CSV_MAIN = r'''import csv
import sys

from queries.unipress import titles_csv as mainquery
from sniplets import mysql_connect

# unipress/titles.csv: the full title list as CSV, one header row.
sys.stdout.reconfigure(encoding="utf-8")

connection = mysql_connect.connect()
cursor = connection.cursor()
cursor.execute(mainquery.query)

writer = csv.writer(sys.stdout)
writer.writerow([column[0] for column in cursor.description])
while True:
    batch = cursor.fetchmany(500)
    if not batch:
        break
    writer.writerows(batch)
connection.close()
'''

# openlib/titles.json ----------------------------------------------------------------

TITLES_JSON_QUERY = """\
-- Titles under a Creative Commons BY licence (any variant), newest first.
SELECT id, title, author, publisher, year, isbn, doi, handle, subject, language, license
FROM book
WHERE license LIKE 'CC BY%'
ORDER BY year DESC, id
"""

TITLES_JSON_MAIN = r'''"""openlib/titles.json: CC BY titles with links, and the library's books per year."""
import json
import sys

from queries import books_by_year
from queries.openlib import titles_json as mainquery
from sniplets import oapen_records

sys.stdout.reconfigure(encoding="utf-8")

connection = oapen_records.connect()
cursor = connection.cursor()

cursor.execute(mainquery.query)
books = oapen_records.dict_rows(cursor)
for book in books:
    book["url"] = oapen_records.handle_url(book["handle"])
    book["doi_url"] = oapen_records.doi_url(book["doi"])

cursor.execute(books_by_year.query)
per_year = oapen_records.dict_rows(cursor)

document = {
    "source": "OAPEN Library",
    "count": len(books),
    "books": books,
    "books_by_year": per_year,
}
json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
sys.stdout.write("\n")
connection.close()
'''

# abccorp/new_books.rss --------------------------------------------------------------

NEW_BOOKS_RSS_QUERY = """\
-- Books added to the library in the 120 days up to the latest addition, newest first.
SELECT id, title, author, publisher, year, isbn, doi, handle, subject, added
FROM book
WHERE added > DATE_SUB((SELECT MAX(added) FROM book), INTERVAL 120 DAY)
ORDER BY added DESC, id DESC
"""

NEW_BOOKS_RSS_MAIN = r'''from sniplets import oapen_records
from queries.abccorp import new_books_rss as mainquery
import datetime
import sys

import rfeed

# abccorp/new_books.rss: an RSS 2.0 feed of the books the library added last.
sys.stdout.reconfigure(encoding="utf-8")

connection = oapen_records.connect()
cursor = connection.cursor()
cursor.execute(mainquery.query)
books = oapen_records.dict_rows(cursor)
connection.close()


def added_on(book):
    """The day a book was added (a date), as the datetime (midnight GMT) rfeed expects."""
    return datetime.datetime.combine(book["added"], datetime.time())


items = []
for book in books:
    link = oapen_records.handle_url(book["handle"])
    items.append(
        rfeed.Item(
            title=book["title"],
            link=link,
            description="%s (%s, %s). %s." % (book["author"], book["publisher"], book["year"], book["subject"]),
            creator=book["author"],
            categories=[rfeed.Category(book["subject"])],
            guid=rfeed.Guid(link),
            pubDate=added_on(book),
        )
    )

last_added = added_on(books[0]) if books else None
feed = rfeed.Feed(
    title="OAPEN Library: new books",
    link="https://library.oapen.org/",
    description="Open access books recently added to the OAPEN Library",
    language="en",
    pubDate=last_added,
    lastBuildDate=last_added,
    ttl=1440,
    items=items,
)
sys.stdout.write(feed.rss())
sys.stdout.write("\n")
'''

# unipress/catalogue.html ------------------------------------------------------------

CATALOGUE_HTML_QUERY = r"""-- The catalogue of the presses UniPress distributes, by publisher; no drafts.
SELECT title, author, publisher, year, language, license, handle
FROM book
WHERE publisher IN ('Amsterdam University Press', 'Leiden University Press',
                    'UCL Press', 'Open Book Publishers')
  AND title NOT LIKE '%\\_draft%' ESCAPE '\\'
ORDER BY publisher, year DESC, title
"""

CATALOGUE_HTML_MAIN = r'''"""unipress/catalogue.html: a printable HTML catalogue and the library's books per year."""
import sys

from tinyhtml import h, html, render

from queries import books_by_year
from queries.unipress import catalogue_html as mainquery
from sniplets import oapen_records

sys.stdout.reconfigure(encoding="utf-8")

connection = oapen_records.connect()
cursor = connection.cursor()
cursor.execute(mainquery.query)
books = oapen_records.dict_rows(cursor)
cursor.execute(books_by_year.query)
per_year = cursor.fetchall()
connection.close()

HEADINGS = ("Title", "Author", "Publisher", "Year", "Language", "Licence")


def book_row(book):
    link = h("a", href=oapen_records.handle_url(book["handle"]))(book["title"])
    return h("tr")(
        h("td")(link),
        h("td")(book["author"]),
        h("td")(book["publisher"]),
        h("td")(book["year"]),
        h("td", lang=book["language"])(book["language"]),
        h("td")(book["license"] or "unknown"),
    )


page = html(lang="en")(
    h("head")(
        h("meta", charset="utf-8"),
        h("title")("UniPress catalogue"),
        h("style")("table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}"),
    ),
    h("body")(
        h("h1")("UniPress catalogue of open access books"),
        h("p")("%d titles from the OAPEN Library." % len(books)),
        h("table", id="catalogue")(
            h("thead")(h("tr")(h("th")(heading) for heading in HEADINGS)),
            h("tbody")(book_row(book) for book in books),
        ),
        h("h2")("Books in the library per year"),
        h("table", id="per-year")(
            h("thead")(h("tr")(h("th")("Year"), h("th")("Books"))),
            h("tbody")(h("tr")(h("td")(year), h("td")(count)) for year, count in per_year),
        ),
    ),
)
sys.stdout.write(render(page))
sys.stdout.write("\n")
'''

# openlib/weekly_digest.csv (weekly, not due on the demo day) -------------------------

WEEKLY_DIGEST_CSV_QUERY = """\
-- The ten latest additions.
SELECT added, title, author, publisher
FROM book
ORDER BY added DESC, id DESC
LIMIT 10
"""

WEEKLY_DIGEST_CSV_MAIN = r'''"""openlib/weekly_digest.csv: the latest additions, every week."""
import csv
import sys

from queries.openlib import weekly_digest_csv as mainquery
from sniplets import mysql_connect

sys.stdout.reconfigure(encoding="utf-8")

connection = mysql_connect.connect()
cursor = connection.cursor()
cursor.execute(mainquery.query)
writer = csv.writer(sys.stdout)
writer.writerow(["Added", "Title", "Author", "Publisher"])
writer.writerows(cursor.fetchall())
connection.close()
'''

# openlib/german_titles.json (starts tomorrow) ---------------------------------------

GERMAN_TITLES_JSON_QUERY = """\
-- German-language titles.
SELECT title, author, publisher, year, isbn
FROM book
WHERE language = 'de'
ORDER BY year DESC, title
"""

GERMAN_TITLES_JSON_MAIN = r'''"""openlib/german_titles.json: German-language titles."""
import json
import sys

from queries.openlib import german_titles_json as mainquery
from sniplets import oapen_records

sys.stdout.reconfigure(encoding="utf-8")

connection = oapen_records.connect()
cursor = connection.cursor()
cursor.execute(mainquery.query)
json.dump(oapen_records.dict_rows(cursor), sys.stdout, ensure_ascii=False, indent=2)
sys.stdout.write("\n")
connection.close()
'''

# abccorp/legacy_titles.xml (inactive) -----------------------------------------------

LEGACY_TITLES_XML_QUERY = """\
-- Title and ISBN of every book.
SELECT id, title, isbn
FROM book
ORDER BY id
"""

LEGACY_TITLES_XML_MAIN = r'''"""abccorp/legacy_titles.xml: the old ISBN list, built with ElementTree (retired)."""
import sys
import xml.etree.ElementTree as ET

from queries.abccorp import legacy_titles_xml as mainquery
from sniplets import mysql_connect

sys.stdout.reconfigure(encoding="utf-8")

connection = mysql_connect.connect()
cursor = connection.cursor()
cursor.execute(mainquery.query)
root = ET.Element("isbns")
for book_id, title, isbn in cursor.fetchall():
    ET.SubElement(root, "isbn", id=str(book_id), title=title).text = isbn
connection.close()
ET.indent(root)
ET.ElementTree(root).write(sys.stdout, encoding="unicode", xml_declaration=True)
sys.stdout.write("\n")
'''


# --------------------------------------------------------------------------------------
# The rows
# --------------------------------------------------------------------------------------

CLIENTS: tuple[tuple[str, str, str], ...] = (
    ("abccorp", "ABC Corp Library Services", "Aggregator; takes an XML title list and an RSS feed."),
    ("unipress", "UniPress Distribution", "Distributor; CSV for its ERP, an HTML catalogue for print."),
    ("openlib", "Open Library Consortium", "Discovery service; JSON."),
)

def sniplets(library: LibraryAccess) -> tuple[tuple[str, str, str], ...]:
    """(name, body, notes) of the library's sniplets, ``mysql_connect`` pointing at ``library``."""
    return (
        ("mysql_connect", mysql_connect_body(library), "Connection to the library database (read-only)."),
        ("oapen_records", OAPEN_RECORDS_SNIP, "Rows as dicts and links; uses mysql_connect."),
        ("xml_helpers", XML_HELPERS_SNIP, "XML escaping and element building."),
    )

LIBRARY_QUERIES: tuple[tuple[str, str, str, str | None], ...] = (
    ("books_by_year", BOOKS_BY_YEAR_QUERY, "Books per year of publication.", None),
    ("full_text_search", FULL_TEXT_SEARCH_QUERY, "Search titles, authors and subjects.", '{"term": "%open%"}'),
)


@dataclass(frozen=True)
class DemoTask:
    """One demo task: its client, file, schedule and the bodies of its script and query."""

    username: str
    file_name: str
    frequency: str
    description: str
    main: str
    sql: str
    is_active: bool = True
    is_public: int = 0
    starts: str = "due"
    """How ``start_date`` relates to the seeding day: see ``_start_date``."""

    @property
    def extension(self) -> str:
        return self.file_name.rsplit(".", 1)[-1]

    @property
    def name(self) -> str:
        return main_script_name(self.username, self.file_name)


DEMO_TASKS: tuple[DemoTask, ...] = (
    DemoTask("abccorp", "titles.xml", "D", "All titles as XML (daily).", TITLES_XML_MAIN, TITLES_XML_QUERY,
             starts="100 days ago"),
    DemoTask("unipress", "titles.csv", "W", "All titles as CSV (weekly).", TITLES_CSV_MAIN, TITLES_CSV_QUERY,
             starts="2 weeks ago"),
    DemoTask("openlib", "titles.json", "M", "CC BY titles as JSON (monthly).", TITLES_JSON_MAIN,
             TITLES_JSON_QUERY, is_public=1, starts="months ago"),
    DemoTask("abccorp", "new_books.rss", "Y", "Feed of new books (yearly, on the anniversary).",
             NEW_BOOKS_RSS_MAIN, NEW_BOOKS_RSS_QUERY, is_public=1, starts="years ago"),
    DemoTask("unipress", "catalogue.html", "D", "Printable HTML catalogue (daily, from today).",
             CATALOGUE_HTML_MAIN, CATALOGUE_HTML_QUERY, starts="today"),
    DemoTask("openlib", "weekly_digest.csv", "W", "Latest additions (weekly; not due today).",
             WEEKLY_DIGEST_CSV_MAIN, WEEKLY_DIGEST_CSV_QUERY, starts="3 days ago"),
    DemoTask("openlib", "german_titles.json", "D", "German titles (daily, starting tomorrow).",
             GERMAN_TITLES_JSON_MAIN, GERMAN_TITLES_JSON_QUERY, starts="tomorrow"),
    DemoTask("abccorp", "legacy_titles.xml", "D", "Old ISBN list (inactive).", LEGACY_TITLES_XML_MAIN,
             LEGACY_TITLES_XML_QUERY, is_active=False, starts="400 days ago"),
)


def _same_day_months_back(today: dt.date, at_least: int) -> dt.date:
    """The latest day with today's day of month, at least ``at_least`` months back."""
    year, month = today.year, today.month
    for back in range(1, 25):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        if back >= at_least and today.day <= calendar.monthrange(year, month)[1]:
            return dt.date(year, month, today.day)
    raise AssertionError("unreachable: every day of month recurs within two years")


def _same_day_years_back(today: dt.date, at_least: int) -> dt.date:
    """The latest anniversary of today's month and day, at least ``at_least`` years back."""
    for back in range(at_least, at_least + 9):
        try:
            return today.replace(year=today.year - back)
        except ValueError:  # 29 February in a common year
            continue
    raise AssertionError("unreachable: 29 February recurs within eight years")


def _start_date(starts: str, today: dt.date) -> dt.date:
    days = {
        "today": 0, "tomorrow": -1, "3 days ago": 3, "2 weeks ago": 14,
        "100 days ago": 100, "400 days ago": 400,
    }
    if starts in days:
        return today - dt.timedelta(days=days[starts])
    if starts == "months ago":
        return _same_day_months_back(today, 3)
    if starts == "years ago":
        return _same_day_years_back(today, 2)
    raise ValueError(f"unknown start {starts!r}")


def _is_due(frequency: str, start: dt.date, active: bool, today: dt.date) -> bool:
    """MEMO's selection rule (memo-facts), used only to report what was seeded."""
    if not active or start > today:
        return False
    if frequency == "D":
        return True
    if frequency == "W":
        return (today - start).days % 7 == 0
    if frequency == "M":
        return today.day == start.day
    if frequency == "Y":
        return (today.month, today.day) == (start.month, start.day)
    return False


def _id() -> str:
    return str(uuid.uuid4())


def seed_demo(engine: Engine, today: dt.date, library: LibraryAccess) -> list[str]:
    """Insert the demo's clients, library and tasks; return the ids of the tasks due on ``today``.

    Expects MEMO's tables to exist and to hold none of the demo's names yet
    (``memo.schema.create_schema`` on a new database). One transaction. The scripts
    read the sample library at ``library`` (``cli.demo.run.create_sample_library``);
    nothing here connects to it.
    """
    stamp = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(9, 30))
    meta = {"updated_at": stamp, "updated_by": DEMO_USER}
    due: list[str] = []
    with engine.begin() as conn:
        clients: dict[str, str] = {}
        for username, name, notes in CLIENTS:
            clients[username] = _id()
            conn.execute(
                insert(homedir).values(
                    id=clients[username], name=name, username=username, password=None,
                    is_editable=True, notes=notes, access_key=uuid.uuid4().hex, **meta,
                )
            )
        for name, body, notes in sniplets(library):
            conn.execute(
                insert(script).values(id=_id(), id_query=None, name=name, type="SNIP", body=body,
                                      params=None, notes=notes, **meta)
            )
        for name, body, notes, params in LIBRARY_QUERIES:
            conn.execute(
                insert(query).values(id=_id(), name=name, body=body, params=params, notes=notes,
                                     is_library=True, **meta)
            )
        for demo in DEMO_TASKS:
            query_id, script_id, task_id = _id(), _id(), _id()
            conn.execute(
                insert(query).values(id=query_id, name=demo.name, body=demo.sql, params=None,
                                     notes=None, is_library=False, **meta)
            )
            conn.execute(
                insert(script).values(id=script_id, id_query=query_id, name=demo.name, type="MAIN",
                                      body=demo.main, params=None, notes=None, **meta)
            )
            start = _start_date(demo.starts, today)
            conn.execute(
                insert(task).values(
                    id=task_id, id_homedir=clients[demo.username], id_script=script_id,
                    file_name=demo.file_name, extension=demo.extension, description=demo.description,
                    start_date=start, frequency=demo.frequency, is_active=demo.is_active,
                    is_public=demo.is_public, notes=None, **meta,
                )
            )
            if _is_due(demo.frequency, start, demo.is_active, today):
                due.append(task_id)
    return due
