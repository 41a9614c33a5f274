# marshal loads code objects
import marshal
print(marshal)
