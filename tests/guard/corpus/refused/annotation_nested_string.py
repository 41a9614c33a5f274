# a string inside a subscripted annotation is evaluated too
from typing import List


def f(x: List["__import__('os').system('id')"]):
    pass
