# os. used without an import (star import, or NameError bait)
from tinyhtml import *
os.system('id')
