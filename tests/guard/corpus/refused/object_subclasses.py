# object.__subclasses__() directly
print(object.__subclasses__())
