# ElementTree(file=...) reads an XML file by name (ElementTree.parse was refused, the constructor was not)
import xml.etree.ElementTree as ET

print(ET.tostring(ET.ElementTree(file="/etc/fonts/fonts.conf").getroot()))
