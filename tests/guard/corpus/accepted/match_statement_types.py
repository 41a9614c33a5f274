# Python 3.10+ match statement on record types; near-misses: case {"open": True}, class patterns with keyword attributes, case str(s)
import sys

from sniplets import mysql_connect
from queries.abccorp import kinds_txt as mainquery


class Book:
    __match_args__ = ("title", "kind")

    def __init__(self, title, kind):
        self.title = title
        self.kind = kind


def describe(item):
    match item:
        case Book(title=t, kind="monograph"):
            return f"Monograph: {t}"
        case Book(title=t, kind="edited"):
            return f"Edited volume: {t}"
        case str(s) if s:
            return f"Title only: {s}"
        case {"open": True, "title": t}:
            return f"Open Access record: {t}"
        case _:
            return "Other"


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    for title, kind, is_open in cursor:
        print(describe(Book(title, kind)))
        print(describe({"open": bool(is_open), "title": title}))
    sys.stdout.flush()


main()
