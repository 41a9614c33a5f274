# plain import os (the old guard only saw 'os.')
import os
print(os.getcwd())
