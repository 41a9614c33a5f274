# the builtins module by import
import builtins
builtins.eval('1')
