# importlib loads os by name
import importlib
importlib.import_module('os').system('id')
