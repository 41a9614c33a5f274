# a typing forward reference is evaluated by its _evaluate method: eval of a string hidden in List["..."]
import typing

ref = typing.get_args(typing.List["__import__('os').system('id')"])[0]
ref._evaluate({}, {}, frozenset())
