# xml.dom.expatbuilder.parse reads an XML file by name (minidom.parse is refused, its builder was not)
from xml.dom import expatbuilder

print(expatbuilder.parse("/etc/fonts/fonts.conf").toxml())
