# pty.spawn runs a program
import pty
pty.spawn('/bin/sh')
