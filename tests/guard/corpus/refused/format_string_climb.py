# a format template reads __globals__
def f():
    pass

print('{0.__globals__}'.format(f))
