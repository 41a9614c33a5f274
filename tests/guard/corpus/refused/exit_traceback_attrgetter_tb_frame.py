# static evasion (second frame source): a context manager __exit__ receives the traceback; operator.attrgetter("tb_frame") -> frame -> f_builtins -> __import__
import operator
tb_frame = operator.attrgetter("tb_frame")
f_builtins = operator.attrgetter("f_builtins")
got = []
class CM:
    def __enter__(self):
        return self
    def __exit__(self, t, v, tb):
        got.append(tb_frame(tb))
        return True
with CM():
    1 / 0
B = f_builtins(got[0])
os = B["__import__"]("os")
print("os via tb_frame:", os, os.getuid())
