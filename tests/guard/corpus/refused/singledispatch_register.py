# singledispatch.register evaluates annotations
from functools import singledispatch
X = list["__import__('os').system('id')"]


@singledispatch
def show(x):
    pass


@show.register
def _(x: X):
    pass
