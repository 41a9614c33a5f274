# open() inside an f-string expression
print(f"{open('/etc/passwd').read()}")
