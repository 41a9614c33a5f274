# types.FunctionType builds functions from code
import types
print(types.FunctionType)
