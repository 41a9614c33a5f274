# WRITE: os.mknod(S_IFREG) is not audited -> creates a regular empty file under /canary/out
import sys
os = sys.modules['os']
os.mknod('/canary/out/regular', 0o644 | 0o100000)
print("mknod ok")
