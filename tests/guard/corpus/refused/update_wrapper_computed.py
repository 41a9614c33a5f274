# functools.wraps with attribute names computed at run time
from functools import wraps

names = tuple(["_" * 2 + "globals" + "_" * 2])


def f():
    pass


@wraps(f, assigned=names)
def g():
    pass
