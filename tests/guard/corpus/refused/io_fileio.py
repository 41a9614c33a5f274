# io.FileIO opens files
import io
f = io.FileIO('/etc/passwd')
