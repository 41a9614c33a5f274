# pydoc.locate resolves any dotted name to an object: os.system
import pydoc

pydoc.locate("os.system")("id")
