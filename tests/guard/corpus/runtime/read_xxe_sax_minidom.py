# READ: XML external entity through xml.dom.minidom/xml.sax with external general entities enabled, and ElementTree
import xml.dom.minidom, xml.etree.ElementTree as ET, sys
doc = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///canary/secret.txt">]><r>&x;</r>'
try:
    sax = sys.modules['xml.sax']
    p = sax.make_parser(); p.setFeature(sax.handler.feature_external_ges, True)
    d = xml.dom.minidom.parseString(doc, parser=p)
    print('minidom:', d.documentElement.toxml())
except Exception as e: print('minidom', repr(e))
try: print('ET:', ET.fromstring(doc).text)
except Exception as e: print('ET', repr(e))
