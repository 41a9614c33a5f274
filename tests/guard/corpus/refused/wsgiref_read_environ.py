# wsgiref.handlers.read_environ returns a copy of os.environ without naming os
from wsgiref.handlers import read_environ

print(read_environ())
