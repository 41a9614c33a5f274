# setattr of __class__
class A:
    pass

setattr(A(), '__class__', int)
