# ONIX 3.0 export for a distributor: XML built with xml.etree, near-misses: cursor.execute, "Open Access", is_open()
import sys
import datetime
import xml.etree.ElementTree as ET

from sniplets import mysql_connect
from queries.abccorp import onix_xml as mainquery

# Note: we never call open() here -- the runner captures stdout.
NS = "http://ns.editeur.org/onix/3.0/reference"


def is_open(row):
    """True when the licence is an Open Access one (CC-*)."""
    return (row.get("license") or "").upper().startswith("CC")


def product(parent, row):
    p = ET.SubElement(parent, "Product")
    ET.SubElement(p, "RecordReference").text = "org.oapen.%s" % row["id"]
    ident = ET.SubElement(p, "ProductIdentifier")
    ET.SubElement(ident, "ProductIDType").text = "15"
    ET.SubElement(ident, "IDValue").text = row["isbn"]
    title = ET.SubElement(ET.SubElement(p, "DescriptiveDetail"), "TitleText")
    title.text = row["title"]
    if is_open(row):
        ET.SubElement(p, "EpubLicense").text = "Open Access"
    return p


def main():
    conn = mysql_connect.connect()
    cursor = conn.cursor(dictionary=True)
    cursor.execute(mainquery.query)
    root = ET.Element("ONIXMessage", release="3.0", xmlns=NS)
    header = ET.SubElement(root, "Header")
    ET.SubElement(header, "SentDateTime").text = datetime.datetime.now().strftime("%Y%m%dT%H%M")
    for row in cursor.fetchall():
        product(root, row)
    cursor.close()
    conn.close()
    sys.stdout.write(ET.tostring(root, encoding="unicode"))


if __name__ == "__main__":
    main()
