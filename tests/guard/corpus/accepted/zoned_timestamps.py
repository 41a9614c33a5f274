# Timestamps in Amsterdam time with zoneinfo and email.utils; near-misses: format_datetime, parsedate_to_datetime, sys.exit(2)
import sys
from datetime import datetime
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from sniplets import mysql_connect
from queries.abccorp import embargo_txt as mainquery

AMS = ZoneInfo("Europe/Amsterdam")


def main():
    if len(sys.argv) > 2:
        print("usage: embargo [--rfc2822]", file=sys.stderr)
        sys.exit(2)
    rfc = "--rfc2822" in sys.argv
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    for handle, ends in cursor:
        local = ends.replace(tzinfo=ZoneInfo("UTC")).astimezone(AMS)
        stamp = format_datetime(local) if rfc else local.isoformat(timespec="minutes")
        print(f"{handle}\t{stamp}")


main()
