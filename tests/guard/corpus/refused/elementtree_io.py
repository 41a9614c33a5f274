# xml.etree.ElementTree re-exports io
import xml.etree.ElementTree as ET
print(ET.io.open('/etc/passwd').read())
