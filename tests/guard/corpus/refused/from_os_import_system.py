# from-import of a function of os: no 'os.' in the text
from os import system
system('id')
