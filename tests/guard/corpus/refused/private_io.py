# _io, the C io module
import _io
_io.open('/etc/passwd')
