# The mysql_connect sniplet itself: reads credentials from sys.argv / constants, uses mysql.connector; near-misses: connector.connect, conn.open attribute names
import sys

import mysql.connector
from mysql.connector import errorcode

HOST = "oapen-db"
DATABASE = "oapen_library"
USER = "memo_ro"


def connect(password=None, **options):
    """Open a read-only connection (the word open is fine in a docstring)."""
    settings = dict(host=HOST, database=DATABASE, user=USER, charset="utf8mb4", use_pure=True)
    settings.update(options)
    if password is not None:
        settings["password"] = password
    try:
        return mysql.connector.connect(**settings)
    except mysql.connector.Error as err:
        if err.errno == errorcode.ER_ACCESS_DENIED_ERROR:
            sys.stderr.write("access denied for %s\n" % USER)
        raise


def cursor(conn=None, dictionary=False):
    conn = conn or connect()
    return conn.cursor(dictionary=dictionary, buffered=True)
