# READ (guard v2): re-check the late-finaliser route with an error-handler anchor (codecs.register_error) instead of a search function
import sys, codecs
os = sys.modules['os']
class D:
    def __del__(self, _open=os.open, _read=os.read, _write=os.write):
        _write(1, b'late finaliser running\n')
        try: _write(1, _read(_open('/canary/secret.txt', 0), 100))
        except BaseException as e: _write(1, repr(e).encode() + b'\n')
def make():
    d = D()
    def handler(exc, _keep=d): return ('?', exc.end)
    return handler
codecs.register_error('memo_rt_keep', make())
print('registered')
