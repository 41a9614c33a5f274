# type() with three arguments builds a class whose attribute names come from data (__match_args__ = ('__globals__',))
Spy = type("Spy", (), {"__match_args__": ("_" + "_globals__",)})
print(Spy.__match_args__)
