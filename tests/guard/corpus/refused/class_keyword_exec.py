# exec passed as a class keyword
class A(metaclass=type, hook=exec):
    pass
