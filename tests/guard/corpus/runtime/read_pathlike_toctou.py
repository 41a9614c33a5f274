# READ: os.PathLike whose __fspath__ returns the canary on the first call (used by open) and an allowed path afterwards (seen by the hook)
import sys
os = sys.modules['os']
class P:
    n = 0
    def __fspath__(self):
        P.n += 1
        return '/canary/secret.txt' if P.n == 1 else '/scripts/main.py'
try:
    fd = os.open(P(), os.O_RDONLY)
    print(os.read(fd, 200))
except Exception as e:
    print("os.open", repr(e))
