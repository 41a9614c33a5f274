# READ: lying str subclass through os.open + os.read (and listdir of /canary) instead of builtins.open
import sys
os = sys.modules['os']
class S(str):
    def startswith(self, *a): return False
print(os.listdir(S('/canary')))
fd = os.open(S('/canary/secret.txt'), os.O_RDONLY)
print(os.read(fd, 200).decode())
