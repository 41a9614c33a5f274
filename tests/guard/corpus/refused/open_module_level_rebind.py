# a module-level name that shadows open only later: the earlier read is the builtin open
def read(path):
    return open(path).read()


print(read("/etc/passwd"))
open = None
