# xml.sax.saxutils.prepare_input_source opens a system id given as a file name and hands out the byte stream
from xml.sax import saxutils

print(saxutils.prepare_input_source("/etc/passwd").getByteStream().read())
