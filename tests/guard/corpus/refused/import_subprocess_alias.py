# subprocess under an alias
import subprocess as sp
sp.run(['id'])
