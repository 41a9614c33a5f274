# HTML statistics page with tinyhtml; near-misses: the word open in strings and ids, eval_score, reopen()
import sys
from collections import Counter

from tinyhtml import h, html, frag

from sniplets import mysql_connect
from queries.abccorp import stats_html as mainquery


def reopen(conn):
    """Reconnect if the server closed the connection ("open" again)."""
    if not conn.is_connected():
        conn.reconnect(attempts=3, delay=2)
    return conn


def eval_score(row):
    return round(100 * row["downloads"] / max(row["views"], 1), 1)


def main():
    conn = reopen(mysql_connect.connect())
    cursor = conn.cursor(dictionary=True)
    cursor.execute(mainquery.query)
    rows = cursor.fetchall()
    by_lang = Counter(r["language"] for r in rows)
    page = html(lang="en")(
        h("head")(h("meta", charset="utf-8"), h("title")("Open Access usage")),
        h("body")(
            h("h1", id="open-access")("Open Access usage"),
            h("table")(
                h("tr")(h("th")("Title"), h("th")("Score")),
                frag(h("tr")(h("td")(r["title"]), h("td")(str(eval_score(r)))) for r in rows),
            ),
            h("ul")(frag(h("li")(f"{lang}: {n}") for lang, n in by_lang.most_common())),
        ),
    )
    sys.stdout.write(page.render())


main()
