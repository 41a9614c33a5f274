# from-import of a module's private os
from random import _os
_os.system('id')
