# exec passed as a value to map()
list(map(exec, ['print(1)']))
