# positional class pattern: __match_args__ names '__globals__' as data, a metaclass makes any subject match
from dataclasses import make_dataclass


class Anything(type):
    def __instancecheck__(cls, obj):
        return True


Base = Anything("Base", (), {})
Spy = make_dataclass("Spy", ["_" + "_globals__"], bases=(Base,))


def target():
    pass


match target:
    case Spy(g):
        g["__builtins__"]["print"]("escaped")
