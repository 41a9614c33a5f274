# eval aliased by assignment
e = eval
print(e('2 * 21'))
