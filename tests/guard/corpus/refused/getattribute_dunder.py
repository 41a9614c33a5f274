# object.__getattribute__ with a string
x = object.__getattribute__((), '__class__')
