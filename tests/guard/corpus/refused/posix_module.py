# os under its C name
import posix
posix.system('id')
