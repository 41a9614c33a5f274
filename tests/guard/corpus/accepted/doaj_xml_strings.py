# DOAJ-style XML built by string concatenation; near-misses: html.escape, "<open>" tags, subprocess_count variable, os_ prefixed names
import sys
from html import escape
from xml.sax.saxutils import quoteattr

from sniplets import mysql_connect
from queries.abccorp import doaj_xml as mainquery

subprocess_count = 0   # a variable, not the module
os_name_tag = "os"     # used as an XML element name below


def record(row):
    global subprocess_count
    subprocess_count += 1
    parts = ["<record>"]
    parts.append("<title>%s</title>" % escape(row["title"]))
    parts.append("<%s>linux</%s>" % (os_name_tag, os_name_tag))
    parts.append("<open>%s</open>" % ("true" if row["oa"] else "false"))
    parts.append("<link href=%s/>" % quoteattr(row["url"]))
    parts.append("</record>")
    return "".join(parts)


def main():
    cur = mysql_connect.connect().cursor(dictionary=True)
    cur.execute(mainquery.query)
    sys.stdout.write('<?xml version="1.0" encoding="UTF-8"?>\n<records>\n')
    for row in cur:
        sys.stdout.write(record(row) + "\n")
    sys.stdout.write("</records>\n")
    sys.stdout.write("<!-- %d records -->\n" % subprocess_count)


main()
