# from os import path, aliased
from os import path as p
print(p.exists('/etc/shadow'))
