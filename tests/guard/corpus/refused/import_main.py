# the __main__ module holds __builtins__
import __main__
print(__main__)
