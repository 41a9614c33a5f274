# READ: XXE through xml.sax (loaded via xml.sax.saxutils) with feature_external_ges on; and minidom with that parser
import xml.sax.saxutils, xml.dom.minidom, sys
sax = sys.modules['xml.sax']
doc = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///canary/secret.txt">]><r>&x;</r>'
class H(sax.handler.ContentHandler):
    def characters(self, c): print('chars:', c)
p = sax.make_parser(); p.setFeature(sax.handler.feature_external_ges, True); p.setContentHandler(H())
try: p.feed(doc); p.close()
except Exception as e: print('sax', repr(e))
