# XML external entities read local files when the SAX feature is switched on
import xml.sax
from xml.sax.handler import feature_external_ges

parser = xml.sax.make_parser()
parser.setFeature(feature_external_ges, True)
