# READ: urllib.request file:// URL (library open)
import urllib.request
try: print(urllib.request.urlopen('file:///canary/secret.txt').read())
except Exception as e: print(repr(e))
