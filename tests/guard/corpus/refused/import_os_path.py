# import of a submodule of os
import os.path
print(os.path.exists('/etc/passwd'))
