# Gzip-compressed JSON Lines written to stdout.buffer; near-misses: gzip.compress (not gzip.open), zlib.crc32, struct-free bytes handling
import gzip
import json
import sys
import zlib

from sniplets import mysql_connect
from queries.abccorp import dump_jsonl_gz as mainquery


def main():
    cursor = mysql_connect.connect().cursor(dictionary=True)
    cursor.execute(mainquery.query)
    lines = "".join(json.dumps(row, default=str, ensure_ascii=False) + "\n" for row in cursor)
    payload = gzip.compress(lines.encode("utf-8"), compresslevel=6)
    sys.stdout.buffer.write(payload)
    print("crc32=%08x bytes=%d" % (zlib.crc32(payload), len(payload)), file=sys.stderr)


main()
