# static: logging.Formatter {-style template reaching frame attributes of an object passed via extra=
import logging, sys
box = []
def gen():
    h = logging.StreamHandler(sys.stdout)
    h.setFormatter(logging.Formatter("{g.gi_frame.f_back.f_back.f_code.co_filename}", style="{"))
    lg = logging.getLogger("x")
    lg.addHandler(h)
    lg.warning("hi", extra={"g": box[0]})
    yield
g = gen()
box.append(g)
next(g)
