# Uses two library queries and one sniplet; near-misses: mainquery.query, full_text_search.query, "SELECT ... WHERE open = 1"
import sys
import json

from queries.abccorp import fulltext_json as mainquery
from queries import full_text_search, chapter_list
from sniplets import mysql_connect

OPEN_ONLY = "SELECT id FROM item WHERE open = 1"  # "open" is a column here


def fetch(cursor, sql, *params):
    cursor.execute(sql, params)
    cols = [c[0] for c in cursor.description]
    return [dict(zip(cols, row)) for row in cursor.fetchall()]


def main():
    conn = mysql_connect.connect()
    cur = conn.cursor()
    books = fetch(cur, mainquery.query)
    hits = fetch(cur, full_text_search.query, "climate")
    chapters = fetch(cur, chapter_list.query)
    open_ids = {r["id"] for r in fetch(cur, OPEN_ONLY)}
    result = {
        "books": [b for b in books if b["id"] in open_ids],
        "hits": hits,
        "chapters": len(chapters),
    }
    json.dump(result, sys.stdout, default=str)


main()
