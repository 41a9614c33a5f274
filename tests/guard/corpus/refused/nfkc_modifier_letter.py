# modifier letter ᵉ normalises to e
print(ᵉval('1 + 1'))
