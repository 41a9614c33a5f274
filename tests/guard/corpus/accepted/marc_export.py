# MARC21 export through the marc21 sniplet; near-misses: cursor.executemany-free loop, record._asdict(), sys.stdout.buffer
import sys
from collections import namedtuple

from sniplets import mysql_connect, marc21
from queries.abccorp import marc_mrc as mainquery

Book = namedtuple("Book", "handle isbn title author year publisher")


def to_record(book):
    rec = marc21.Record()
    fields = book._asdict()
    rec.add("020", a=fields["isbn"])
    rec.add("245", a=fields["title"])
    rec.add("100", a=fields["author"])
    rec.add("264", b=fields["publisher"], c=str(fields["year"]))
    rec.add("856", u="https://library.oapen.org/handle/" + fields["handle"])
    return rec


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    out = sys.stdout.buffer
    for row in cursor.fetchall():
        out.write(to_record(Book(*row)).as_marc())
    out.flush()


if __name__ == "__main__":
    main()
