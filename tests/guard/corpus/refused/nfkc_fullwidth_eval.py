# full-width letters: Python reads ｅｖａｌ as eval (NFKC)
print(ｅｖａｌ('1 + 1'))
