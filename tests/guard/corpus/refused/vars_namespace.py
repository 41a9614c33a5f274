# vars() is locals()
print(vars()['__builtins__'])
