# EXEC sanity: os.posix_spawn / os.execv with a lying str subclass path (exec refusal should not depend on the path)
import sys
os = sys.modules['os']
class S(str):
    def startswith(self, *a): return False
try:
    os.posix_spawn(S('/canary/bin/reveal'), [S('/canary/bin/reveal')], {})
except Exception as e: print(repr(e))
