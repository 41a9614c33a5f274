# print.__self__ is the builtins module
print.__self__.open('/etc/passwd')
