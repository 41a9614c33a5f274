# Titles from XML records stored as blobs, read with ET.iterparse(io.BytesIO(blob)); near-misses: iterparse on bytes in memory, elem.clear()
import io
import sys
import xml.etree.ElementTree as ET

from sniplets import mysql_connect
from queries.abccorp import record_titles_txt as mainquery


def titles(blob):
    for _event, elem in ET.iterparse(io.BytesIO(blob), events=("end",)):
        if elem.tag == "title":
            yield (elem.text or "").strip()
        elem.clear()


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    for handle, blob in cursor:
        for title in titles(blob):
            sys.stdout.write(f"{handle}\t{title}\n")


main()
