# READ: PathLike whose __fspath__ returns the lying str subclass (tests whether the hook re-validates the fspath result)
class S(str):
    def startswith(self, *a): return False
class P:
    def __fspath__(self): return S('/canary/secret.txt')
print(open(P()).read())
