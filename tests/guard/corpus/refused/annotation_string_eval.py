# typing.get_type_hints evaluates annotation strings
def f(x: "__import__('os').system('id')"):
    pass
