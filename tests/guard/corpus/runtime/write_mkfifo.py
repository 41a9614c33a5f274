# WRITE: os.mkfifo is not an audited event in 3.11 -> creates a node under /canary/out
import sys
os = sys.modules['os']
os.mkfifo('/canary/out/fifo')
print("mkfifo ok")
