# static evasion: operator.attrgetter with a LITERAL frame-attribute name ("gi_frame", "f_back", "f_builtins") reaches frames -> real builtins, __import__, launcher state
import operator
gi_frame = operator.attrgetter("gi_frame")
f_back = operator.attrgetter("f_back")
f_code = operator.attrgetter("f_code")
f_builtins = operator.attrgetter("f_builtins")
co_name = operator.attrgetter("co_name")
co_filename = operator.attrgetter("co_filename")
box = []
def gen():
    yield f_back(gi_frame(box[0]))
g = gen()
box.append(g)
me = next(g)
chain = []
fr = me
while fr is not None:
    chain.append((co_filename(f_code(fr)), co_name(f_code(fr))))
    fr = f_back(fr)
print(chain)
B = f_builtins(me)
imp = B["__import__"]
os = imp("os")
print("os module:", os, os.getcwd(), os.getpid())
sub = imp("subprocess")
print("subprocess module:", sub)
