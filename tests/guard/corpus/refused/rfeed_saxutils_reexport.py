# rfeed re-exports xml.sax.saxutils (rfeed.saxutils), whose prepare_input_source opens files by name
import rfeed

print(rfeed.saxutils.prepare_input_source("/etc/passwd").getByteStream().read())
