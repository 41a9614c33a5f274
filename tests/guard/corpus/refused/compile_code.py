# compile() makes a code object for exec
code = compile('print(1)', '<s>', 'exec')
print(code)
