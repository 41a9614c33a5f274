# string.Formatter().format with a literal template that climbs
import string


def f():
    pass


print(string.Formatter().format("{0.__globals__[__builtins__]}", f))
