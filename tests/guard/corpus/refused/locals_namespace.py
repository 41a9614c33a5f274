# locals() at module level is globals()
ns = locals()
print(ns)
