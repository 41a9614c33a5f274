# sys._getframe() → f_globals
import sys
print(sys._getframe(0).f_globals['__builtins__'])
