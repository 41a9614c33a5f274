# WRITE: ssl.SSLContext.keylog_filename (C-level fopen) and load_verify_locations (OpenSSL reads the file)
import sys, urllib.request
ssl = sys.modules.get('ssl')
print(ssl)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
try: c.keylog_filename = '/canary/out/keylog'; print('keylog set')
except Exception as e: print('keylog', repr(e))
try: c.load_verify_locations('/canary/secret.txt')
except Exception as e: print('cafile', repr(e))
