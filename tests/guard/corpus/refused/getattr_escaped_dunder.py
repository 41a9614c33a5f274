# getattr with a dunder spelled with escapes
cls = getattr((), '\x5f_class__')
print(cls)
