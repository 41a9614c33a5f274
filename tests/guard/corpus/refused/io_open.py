# io.open is open
import io
print(io.open('/etc/passwd').read())
