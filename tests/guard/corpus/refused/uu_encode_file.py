# uu.encode takes a file name as input and writes it uuencoded to the stream it is given
import sys
import uu

uu.encode("/etc/passwd", sys.stdout.buffer)
