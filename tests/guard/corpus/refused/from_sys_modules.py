# sys.modules by from-import
from sys import modules as m
m['os'].system('id')
