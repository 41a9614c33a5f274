# linecache reads any file
import traceback
print(traceback.linecache.getlines('/etc/passwd'))
