# Generators, context managers and exceptions; near-misses: contextlib.suppress, __enter__/__exit__, with-statements without open()
import contextlib
import sys

from sniplets import mysql_connect
from queries.abccorp import embargo_csv as mainquery


class Connection:
    def __enter__(self):
        self.conn = mysql_connect.connect()
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        with contextlib.suppress(Exception):
            self.conn.close()
        return False


def rows(conn):
    cursor = conn.cursor()
    cursor.execute(mainquery.query)
    while True:
        batch = cursor.fetchmany(500)
        if not batch:
            return
        yield from batch


def main():
    with Connection() as conn:
        for handle, embargo in rows(conn):
            try:
                sys.stdout.write(f"{handle},{embargo:%Y-%m-%d}\n")
            except (TypeError, ValueError):
                sys.stdout.write(f"{handle},\n")


main()
