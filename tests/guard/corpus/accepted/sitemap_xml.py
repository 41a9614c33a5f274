# sitemap.xml with urllib.parse.quote and urllib.request.urlopen to ping a search engine; near-miss: urlopen(
import sys
import urllib.parse
import urllib.request
from datetime import datetime, timezone

from sniplets import mysql_connect
from queries.abccorp import sitemap_xml as mainquery

BASE = "https://library.oapen.org/handle/"


def ping(sitemap_url):
    url = "https://www.google.com/ping?sitemap=" + urllib.parse.quote(sitemap_url, safe="")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except Exception as exc:  # the export must not fail because of the ping
        print("ping failed: %s" % exc, file=sys.stderr)
        return None


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    print('<?xml version="1.0" encoding="UTF-8"?>')
    print('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">')
    for handle, modified in cursor:
        stamp = modified.replace(tzinfo=timezone.utc).isoformat()
        print("  <url><loc>%s%s</loc><lastmod>%s</lastmod></url>" % (BASE, urllib.parse.quote(handle), stamp))
    print("</urlset>")
    if len(sys.argv) > 1 and sys.argv[1] == "--ping":
        ping("https://memo.oapen.org/exports/abccorp/sitemap.xml")


main()
