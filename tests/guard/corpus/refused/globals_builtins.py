# globals() holds __builtins__
globals()['__builtins__']['eval']('1')
