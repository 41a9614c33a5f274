# Downloads per operating system from a namedtuple with a field called os; near-misses: visit.os, Visit._make, os_name, an "os" column
import sys
from collections import Counter, namedtuple

from sniplets import mysql_connect
from queries.abccorp import downloads_by_os_csv as mainquery

Visit = namedtuple("Visit", "handle os browser country")


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    by_os = Counter()
    for row in cursor:
        visit = Visit._make(row)
        by_os[visit.os or "unknown"] += 1
    sys.stdout.write("os,downloads\n")
    for os_name, count in by_os.most_common():
        sys.stdout.write(f"{os_name},{count}\n")


main()
