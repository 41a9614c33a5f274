# WRITE: str subclass with lying startswith() — the guard takes the path for a relative in-tree one; open for writing under /canary/out
class S(str):
    def startswith(self, *a): return False
with open(S('/canary/out/written.txt'), 'w') as f:
    f.write('pwned\n')
print("wrote")
