# JATS-ish chapter XML with f-strings and textwrap; near-misses: textwrap.shorten, f"{x!r}", "{0.title}".format(row)
import sys
import textwrap
from dataclasses import dataclass, field
from typing import List, Optional

from sniplets import mysql_connect
from queries.abccorp import jats_xml as mainquery


@dataclass
class Chapter:
    title: str
    pages: str
    authors: List[str] = field(default_factory=list)
    doi: Optional[str] = None


def render(ch: "Chapter") -> str:
    names = ", ".join(ch.authors) or "Anonymous"
    label = "{0.title} ({0.pages})".format(ch)
    short = textwrap.shorten(label, width=120, placeholder=" ...")
    return f"<book-part><title>{short}</title><contrib>{names!s}</contrib><doi>{ch.doi or ''}</doi></book-part>"


def main():
    cursor = mysql_connect.connect().cursor(dictionary=True)
    cursor.execute(mainquery.query)
    chapters = [Chapter(r["title"], r["pages"], r["authors"].split(";"), r.get("doi")) for r in cursor]
    sys.stdout.write("<book-part-wrapper>\n")
    for ch in chapters:
        sys.stdout.write(render(ch) + "\n")
    sys.stdout.write("</book-part-wrapper>\n")


main()
