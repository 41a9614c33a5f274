# Daily diff of titles with difflib and hashlib; near-misses: difflib.unified_diff, hashlib.sha1(...).hexdigest(), base64
import base64
import difflib
import hashlib
import sys

from sniplets import mysql_connect
from queries.abccorp import changes_txt as mainquery


def fingerprint(text):
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    for handle, old, new in cursor.fetchall():
        if old == new:
            continue
        diff = difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(),
                                    fromfile=f"{handle}@before", tofile=f"{handle}@after", lineterm="")
        sys.stdout.write("\n".join(diff) + "\n")
        token = base64.urlsafe_b64encode(fingerprint(new or "").encode()).decode()
        sys.stdout.write(f"# {handle} {token}\n")


main()
