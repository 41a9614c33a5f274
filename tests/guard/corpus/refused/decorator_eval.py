# eval used as a decorator
@eval
def f():
    pass
