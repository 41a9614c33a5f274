# Dublin Core records with a small class hierarchy; near-misses: super().__init__, __repr__, __str__, __slots__, __name__
import sys

from sniplets import mysql_connect
from queries.abccorp import dc_xml as mainquery


class Element:
    __slots__ = ("name", "value")

    def __init__(self, name, value):
        self.name = name
        self.value = value

    def __str__(self):
        return "<dc:%s>%s</dc:%s>" % (self.name, self.value, self.name)

    def __repr__(self):
        return "%s(%r, %r)" % (type(self).__name__, self.name, self.value)


class Title(Element):
    __slots__ = ()

    def __init__(self, value):
        super().__init__("title", value)


class Rights(Element):
    __slots__ = ()

    def __init__(self, is_open):
        super().__init__("rights", "Open Access" if is_open else "All rights reserved")


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    sys.stdout.write("<records>\n")
    for handle, title, is_open in cursor.fetchall():
        elements = [Title(title), Rights(is_open), Element("identifier", handle)]
        sys.stdout.write("<oai_dc:dc>" + "".join(str(e) for e in elements) + "</oai_dc:dc>\n")
    sys.stdout.write("</records>\n")


if __name__ == "__main__":
    main()
