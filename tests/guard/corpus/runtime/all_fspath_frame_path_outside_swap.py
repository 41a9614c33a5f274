# HOOK FRAME via __fspath__: expected the hook to call __fspath__ (it does not: the event carries the already-converted path) then swap _path_outside.__code__
import sys
got = {}
class P:
    def __fspath__(self):
        f = sys._getframe(1)
        while f is not None:
            if f.f_code.co_name == 'hook': got.update(f.f_locals)
            f = f.f_back
        return '/scripts/main.py'
open(P()).close()
def never_outside(path, *rest): return False
got['_path_outside'].__code__ = never_outside.__code__
print(open('/canary/secret.txt').read())
