# Crossref-like deposit XML using xml.dom.minidom.parseString for pretty printing; near-misses: parseString, toprettyxml, "doi_batch"
import sys
import time
import uuid
from xml.dom.minidom import parseString
import xml.etree.ElementTree as ET

from sniplets import mysql_connect
from queries.abccorp import crossref_xml as mainquery


def batch_id():
    return "oapen-%s" % uuid.uuid4().hex[:12]


def main():
    cursor = mysql_connect.connect().cursor(dictionary=True)
    cursor.execute(mainquery.query)
    batch = ET.Element("doi_batch", version="5.3.1")
    head = ET.SubElement(batch, "head")
    ET.SubElement(head, "doi_batch_id").text = batch_id()
    ET.SubElement(head, "timestamp").text = str(int(time.time()))
    body = ET.SubElement(batch, "body")
    for row in cursor.fetchall():
        book = ET.SubElement(body, "book", book_type="monograph")
        meta = ET.SubElement(book, "book_metadata")
        ET.SubElement(ET.SubElement(meta, "titles"), "title").text = row["title"]
        data = ET.SubElement(meta, "doi_data")
        ET.SubElement(data, "doi").text = row["doi"]
        ET.SubElement(data, "resource").text = row["url"]
    pretty = parseString(ET.tostring(batch)).toprettyxml(indent="  ")
    print(pretty)


main()
