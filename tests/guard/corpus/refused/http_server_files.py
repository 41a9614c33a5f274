# http.server serves any directory; the script then fetches /etc/passwd over HTTP
import functools
import threading
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

handler = functools.partial(SimpleHTTPRequestHandler, directory="/etc")
server = ThreadingHTTPServer(("127.0.0.1", 8765), handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(urllib.request.urlopen("http://127.0.0.1:8765/passwd").read())
