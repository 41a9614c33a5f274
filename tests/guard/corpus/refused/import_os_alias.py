# import os under another name
import os as o
o.system('id')
