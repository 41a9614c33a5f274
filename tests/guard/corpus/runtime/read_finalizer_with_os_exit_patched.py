# READ (guard v2): late-finaliser route again, with os._exit also replaced (hypothesis: v2 ends the run early) — the codec-search-path finaliser no longer runs
import sys, codecs
os = sys.modules['os']
class D:
    def __del__(self, _open=os.open, _read=os.read, _write=os.write, _close=os.close):
        _write(1, b'finaliser running\n')
        try:
            fd = _open('/canary/secret.txt', 0); _write(1, b'FIN:' + _read(fd, 200)); _close(fd)
        except BaseException as e:
            _write(1, b'read failed ' + repr(e).encode() + b'\n')
def make():
    d = D()
    def search(name, _keep=d): return None
    return search
codecs.register(make())
real_exit = os._exit
os._exit = lambda *a: None
print("registered; os._exit neutralised")
