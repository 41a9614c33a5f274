# Open-access shares with a function parameter named open (the number of open titles); near-misses: open as a parameter and keyword, open in f-strings
import sys

from sniplets import mysql_connect
from queries.abccorp import oa_share_txt as mainquery


def summary(publisher, open, closed):
    """One line per publisher: open is a count here, not the builtin."""
    share = open / max(open + closed, 1)
    return f"{publisher}: {open} open, {closed} closed ({share:.0%})"


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    totals = {}
    for publisher, is_open in cursor:
        counts = totals.setdefault(publisher, [0, 0])
        counts[0 if is_open else 1] += 1
    for publisher, (open_count, closed_count) in sorted(totals.items()):
        sys.stdout.write(summary(publisher, open=open_count, closed=closed_count) + "\n")


main()
