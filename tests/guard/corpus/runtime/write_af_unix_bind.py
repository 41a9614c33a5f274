# WRITE: socket.* events are on the harmless list; binding an AF_UNIX socket creates a file under /canary/out
import sys, urllib.request
socket = sys.modules['socket']
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind('/canary/out/sock')
print("bound", s.getsockname())
