# Comments and docstrings full of forbidden words, which never trigger the guard
"""Export of deleted items.

Historically this script used open('/tmp/cache') and os.system("rm ...") and
subprocess.call(...) to clean up; exec() and eval() were used for templating.
All of that is gone: MEMO forbids exec, eval, open, os. and subprocess.
"""
import sys

from sniplets import mysql_connect  # was: import os; os.environ['DB']
from queries.abccorp import deleted_csv as mainquery


def main():
    # eval(  exec(  open(  os.  subprocess.  __import__('os')  -- all just comments
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)  # cursor.execute is not exec
    for (handle,) in cursor:
        sys.stdout.write("deleted\t%s\n" % handle)  # "os.remove(handle)" in a string is fine
    msg = "Use subprocess.run? No: the container runs this. eval(x) is not called."
    print(msg, file=sys.stderr)


main()
