# KBART title list as TSV via csv.writer(sys.stdout); near-misses: retrieval (, os_version, evaluation, urlopen in a comment
import csv
import sys
from datetime import date

from sniplets import mysql_connect
from queries.abccorp import kbart_txt as mainquery
from queries import full_text_search

FIELDS = ["publication_title", "print_identifier", "online_identifier", "date_first_issue_online",
          "title_url", "first_author", "title_id", "coverage_depth", "publisher_name", "access_type"]

os_version = "KBART Phase II"  # not the os module
evaluation = {"complete": 0, "partial": 0}


def retrieval (cursor, sql):  # odd spacing that fooled the old guard
    cursor.execute(sql)
    return cursor.fetchall()


def access_type(row):
    return "F" if row["is_oa"] else "P"


def main():
    db = mysql_connect.connect()
    cur = db.cursor(dictionary=True)
    rows = retrieval (cur, mainquery.query)
    extra = retrieval (cur, full_text_search.query)
    writer = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    writer.writerow(FIELDS)
    for r in rows + extra:
        evaluation["complete" if r["isbn"] else "partial"] += 1
        writer.writerow([r["title"], "", r["isbn"], r["year"], "https://library.oapen.org/handle/%s" % r["handle"],
                         r["author"], r["handle"], "fulltext", r["publisher"], access_type(r)])
    print("# generated %s (%s)" % (date.today().isoformat(), os_version), file=sys.stderr)


main()
