# ISBN validation report; near-misses: re.compile, pattern.match, getattr with literal names, hasattr
import re
import sys

from sniplets import mysql_connect
from queries.abccorp import isbn_txt as mainquery

ISBN13 = re.compile(r"^97[89]\d{10}$")
HYPHENS = re.compile(r"[-\s]")


def checksum_ok(isbn):
    digits = [int(c) for c in isbn]
    total = sum(d * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == digits[12]


class Row:
    def __init__(self, handle, isbn):
        self.handle = handle
        self.isbn = isbn


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    bad = 0
    for handle, raw in cursor:
        row = Row(handle, HYPHENS.sub("", raw or ""))
        isbn = getattr(row, "isbn", "")
        if not ISBN13.match(isbn) or not checksum_ok(isbn):
            bad += 1
            print("%s\t%s\tinvalid" % (getattr(row, "handle"), raw))
        elif hasattr(row, "isbn"):
            print("%s\t%s\tok" % (row.handle, isbn))
    sys.stdout.write("# %d invalid\n" % bad)
    sys.exit(0 if bad == 0 else 0)


main()
