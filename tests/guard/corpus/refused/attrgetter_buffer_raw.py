# operator.attrgetter with a dotted path walks sys.stdout to its raw io.FileIO, whose type opens files
import operator
import sys

raw = operator.attrgetter("buffer.raw")(sys.stdout)
print(type(raw)("/etc/passwd").read())
