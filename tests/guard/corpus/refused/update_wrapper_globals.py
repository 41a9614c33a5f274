# functools.update_wrapper copies an attribute named by a string ('__globals__') into a namespace we own
import functools
import types

mine = {}
ns = types.SimpleNamespace(**{"__glob" + "als__": mine})


def f():
    pass


functools.update_wrapper(ns, f, assigned=(), updated=("__globals__",))
