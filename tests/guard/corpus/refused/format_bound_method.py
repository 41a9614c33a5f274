# a literal template's bound format method, called later
def f():
    pass


show = "{0.__globals__}".format
print(show(f))
