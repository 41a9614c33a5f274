# a function's __globals__ holds __builtins__
def f():
    pass

print(f.__globals__['__builtins__'])
