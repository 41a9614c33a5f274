# Writes UTF-8 regardless of locale via io.TextIOWrapper and codecs.getwriter; near-misses: io.StringIO, codecs (not codecs.open)
import codecs
import csv
import io
import sys

from sniplets import mysql_connect
from queries.abccorp import latin_csv as mainquery


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    for row in cursor.fetchall():
        writer.writerow(row)
    if "--latin1" in sys.argv:
        out = codecs.getwriter("latin-1")(sys.stdout.buffer, errors="replace")
    else:
        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    out.write(buffer.getvalue())
    out.flush()


main()
