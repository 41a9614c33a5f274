# POLICY (eval): typing.ForwardRef compiles/evals a string inside a library; then try a forbidden action from that string-built code
import typing, sys
r = typing.ForwardRef("(print('eval by typing ran'), 42)[1]")
print(r._evaluate({}, {}, frozenset()))
try:
    typing.ForwardRef("open('/canary/secret.txt').read()")._evaluate({}, {}, frozenset())
except Exception as e: print(repr(e))
