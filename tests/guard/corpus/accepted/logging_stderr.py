# Diagnostics to stderr with logging and traceback; near-misses: logging.getLogger(__name__), traceback.print_exc(), sys.exit(1), exc_info=True
import logging
import sys
import traceback

from sniplets import mysql_connect
from queries.abccorp import audit_txt as mainquery

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger(__name__)


def main():
    try:
        cursor = mysql_connect.connect().cursor()
        cursor.execute(mainquery.query)
    except Exception:
        traceback.print_exc()
        log.error("query failed", exc_info=True)
        sys.exit(1)
    count = 0
    for row in cursor:
        count += 1
        print("\t".join(str(v) for v in row))
    log.info("exported %d rows", count)


if __name__ == "__main__":
    main()
