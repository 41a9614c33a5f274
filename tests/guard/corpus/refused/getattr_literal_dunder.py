# getattr with a literal dunder climbs like ().__class__
cls = getattr((), '__class__')
print(cls)
