# READ: call open() at nearly full recursion depth so the hook itself hits RecursionError — does the guard fail open?
import sys, codecs
res = []
def deep(n):
    if n == 0:
        try:
            res.append(codecs.open('/canary/secret.txt').read())
        except BaseException as e:
            res.append(type(e).__name__)
        return
    deep(n - 1)
sys.setrecursionlimit(200)
for d in range(150, 200):
    try:
        deep(d)
    except RecursionError:
        res.append('R%d' % d)
print([r for r in res])
