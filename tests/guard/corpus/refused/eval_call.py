# eval() called directly
total = eval('1 + 2')
print(total)
