# xml.sax.make_parser() returns a parser whose parse() reads a file by name
import xml.sax
from xml.sax.handler import ContentHandler

xml.sax.make_parser().parse("/etc/fonts/fonts.conf")
print(ContentHandler)
