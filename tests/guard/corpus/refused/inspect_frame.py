# inspect.currentframe() → f_globals
import inspect
print(inspect.currentframe())
