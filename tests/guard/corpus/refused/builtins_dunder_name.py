# __builtins__ reached by name
f = __builtins__.__dict__['ev' + 'al']
f('1')
