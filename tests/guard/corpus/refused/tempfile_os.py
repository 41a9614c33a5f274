# tempfile re-exports os
import tempfile
tempfile.os.system('id')
