# JSON dump for a partner API; near-misses: json.dump(sys.stdout), default=str, "open" keys, is_open flag
import json
import sys
from datetime import datetime, date
from decimal import Decimal

from sniplets import mysql_connect
from queries.abccorp import partner_json as mainquery


def default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def main():
    cursor = mysql_connect.connect().cursor(dictionary=True)
    cursor.execute(mainquery.query, {"since": "2024-01-01"})
    records = []
    for row in cursor:
        row["open"] = bool(row.pop("is_open", 0))
        row["access"] = "Open Access" if row["open"] else "restricted"
        records.append(row)
    json.dump({"generated": datetime.utcnow(), "count": len(records), "records": records},
              sys.stdout, default=default, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


main()
