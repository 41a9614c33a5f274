# Open-access flags: the word open everywhere except as the builtin; near-misses: is_open(), opened, open_access, row.open, .open() methods on objects
import sys

from sniplets import mysql_connect
from queries.abccorp import flags_csv as mainquery


class Licence:
    def __init__(self, code):
        self.code = code
        self.open = code.startswith("CC")

    def is_open(self):
        return self.open

    def open_access_label(self):
        return "Open Access" if self.is_open() else "Closed"


def main():
    connection = mysql_connect.connect()
    opened = connection.is_connected()
    cursor = connection.cursor()
    cursor.execute(mainquery.query)
    open_access = 0
    for handle, code in cursor:
        lic = Licence(code or "")
        if lic.open:
            open_access += 1
        sys.stdout.write(f"{handle},{lic.open_access_label()}\n")
    sys.stdout.write(f"# open_access={open_access} opened={opened}\n")


main()
