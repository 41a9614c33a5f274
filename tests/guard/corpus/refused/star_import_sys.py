# star import binds sys.modules as 'modules'
from sys import *
modules['os'].system('id')
