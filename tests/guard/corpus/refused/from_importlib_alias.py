# from importlib import import_module as load
from importlib import import_module as load
load('subprocess').run(['id'])
