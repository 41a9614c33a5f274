# __code__ of a lambda
g = (lambda: 0).__code__
print(g)
