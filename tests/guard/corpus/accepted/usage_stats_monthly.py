# Monthly usage statistics (COUNTER-like) with datetime arithmetic and itertools.groupby; near-misses: evaluate_period, exec_summary
import csv
import sys
import itertools
import calendar
from datetime import date, timedelta
from operator import itemgetter

from sniplets import mysql_connect
from queries.abccorp import counter_csv as mainquery


def previous_month(today=None):
    today = today or date.today()
    first = today.replace(day=1)
    last_prev = first - timedelta(days=1)
    return last_prev.replace(day=1), last_prev


def evaluate_period(start, end):
    """Evaluation of the reporting window, not eval()."""
    return f"{start:%Y-%m-%d} .. {end:%Y-%m-%d}"


def main():
    start, end = previous_month()
    cursor = mysql_connect.connect().cursor(dictionary=True)
    cursor.execute(mainquery.query, (start, end))
    rows = sorted(cursor.fetchall(), key=itemgetter("publisher"))
    out = csv.writer(sys.stdout)
    out.writerow(["Report_Period", evaluate_period(start, end)])
    out.writerow(["Publisher", "Title", calendar.month_abbr[start.month], "Total"])
    exec_summary = {}
    for publisher, group in itertools.groupby(rows, key=itemgetter("publisher")):
        group = list(group)
        exec_summary[publisher] = sum(r["requests"] for r in group)
        for r in group:
            out.writerow([publisher, r["title"], r["requests"], r["requests"]])
    for publisher, total in sorted(exec_summary.items()):
        out.writerow([publisher, "TOTAL", "", total])


main()
