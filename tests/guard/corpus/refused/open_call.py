# open() reads a file directly
data = open('/etc/passwd').read()
print(data)
