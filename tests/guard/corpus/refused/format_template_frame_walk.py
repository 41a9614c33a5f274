# static: str.format template walking gi_frame.f_back... leaks launcher globals/locals as text (format fields with public frame attrs are accepted)
def gen():
    yield 1
box = []
def gen2():
    yield "{0.gi_frame.f_back.f_back.f_code.co_filename} {0.gi_frame.f_back.f_back.f_back.f_locals[opts]}".format(box[0])
g = gen2()
box.append(g)
print(next(g)[:600])
