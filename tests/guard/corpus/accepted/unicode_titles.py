# Unicode normalisation of titles: non-ASCII identifiers and strings that are not forbidden; near-misses: unicodedata.normalize, ｔｉｔｌｅ, "ｅｖａｌ" in a string
import sys
import unicodedata

from sniplets import mysql_connect
from queries.abccorp import titles_txt as mainquery

ｔｉｔｌｅｓ = []          # full-width identifier: NFKC "titles", allowed
café_count = 0
warning = "A title containing ｅｖａｌ('x') is just text"


def fold(text):
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def main():
    global café_count
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    for (title,) in cursor:
        if "é" in title:
            café_count += 1
        ｔｉｔｌｅｓ.append(fold(title))
    sys.stdout.write("\n".join(titles) + "\n")
    print(warning, café_count, file=sys.stderr)


main()
