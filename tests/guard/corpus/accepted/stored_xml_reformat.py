# Re-formats XML stored in the database with ET.fromstring and ET.indent; near-misses: fromstring (not parse), ET.tostring, element.iter()
import sys
import xml.etree.ElementTree as ET

from sniplets import mysql_connect
from queries.abccorp import stored_xml as mainquery


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    root = ET.Element("collection")
    for handle, xml_text in cursor:
        try:
            record = ET.fromstring(xml_text)
        except ET.ParseError as err:
            print(f"{handle}: {err}", file=sys.stderr)
            continue
        record.set("handle", handle)
        for node in record.iter("subject"):
            node.text = (node.text or "").strip().lower()
        root.append(record)
    ET.indent(root, space="  ")
    sys.stdout.write(ET.tostring(root, encoding="unicode", xml_declaration=True))


main()
