# RSS feed of new titles with rfeed; near-misses: photos.append, Feed(...), "exec" in strings, SQL in strings
import datetime
import sys

import rfeed

from sniplets import mysql_connect

SQL = """
SELECT handle, title, abstract, date_accessioned
  FROM item
 WHERE date_accessioned > NOW() - INTERVAL 7 DAY   -- open( and exec( inside SQL are just text
 ORDER BY date_accessioned DESC
"""

photos = []  # cover thumbnails


def cover(handle):
    url = "https://library.oapen.org/bitstream/handle/%s/cover.jpg" % handle
    photos.append(url)
    return url


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(SQL)
    items = []
    for handle, title, abstract, accessioned in cursor:
        items.append(rfeed.Item(
            title=title,
            link="https://library.oapen.org/handle/%s" % handle,
            description=(abstract or "")[:500],
            guid=rfeed.Guid(handle, isPermaLink=False),
            pubDate=accessioned,
            enclosure=rfeed.Enclosure(url=cover(handle), length=0, type="image/jpeg"),
        ))
    feed = rfeed.Feed(
        title="OAPEN new titles",
        link="https://library.oapen.org",
        description="Titles added this week. exec summary: open access books.",
        language="en-US",
        lastBuildDate=datetime.datetime.now(),
        items=items,
    )
    sys.stdout.write(feed.rss())


main()
