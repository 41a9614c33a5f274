# sys passed around to hide .modules
import sys
x = sys
print(x.modules['os'])
