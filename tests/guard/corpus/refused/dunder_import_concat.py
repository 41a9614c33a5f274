# __import__ with a computed module name
m = __import__('o' + 's')
m.system('id')
