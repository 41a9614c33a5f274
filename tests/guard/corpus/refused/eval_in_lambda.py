# eval() inside a lambda in a comprehension
rows = ['1', '2']
print([(lambda s: eval(s))(r) for r in rows])
