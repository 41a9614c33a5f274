# Price list with decimal and locale-free formatting; near-misses: Decimal.quantize, ROUND_HALF_UP, sum(...) of generators, "exec" column name
import csv
import sys
from decimal import Decimal, ROUND_HALF_UP

from sniplets import mysql_connect
from queries.abccorp import prices_csv as mainquery

CENT = Decimal("0.01")


def vat(amount, rate="0.09"):
    return (Decimal(amount) * Decimal(rate)).quantize(CENT, rounding=ROUND_HALF_UP)


def main():
    cursor = mysql_connect.connect().cursor(dictionary=True)
    cursor.execute(mainquery.query)
    rows = cursor.fetchall()
    writer = csv.DictWriter(sys.stdout, fieldnames=["isbn", "price", "vat", "exec"], extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        r["vat"] = vat(r["price"])
        r["exec"] = r.get("executive_summary", "")
        writer.writerow(r)
    total = sum((Decimal(r["price"]) for r in rows), Decimal(0))
    print(f"# total {total:.2f}", file=sys.stderr)


main()
