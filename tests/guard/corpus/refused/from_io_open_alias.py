# io.open by from-import, renamed
from io import open as read_file
print(read_file('/etc/passwd').read())
