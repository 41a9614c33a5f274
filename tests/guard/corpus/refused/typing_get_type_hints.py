# get_type_hints evaluates strings hidden in generic aliases
import typing
X = list["__import__('os').system('id')"]


def f(x: X):
    pass


typing.get_type_hints(f)
