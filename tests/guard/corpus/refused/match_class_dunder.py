# a class pattern reads __class__
x = ()
match x:
    case object(__class__=c):
        print(c)
