# from-import of subprocess.Popen
from subprocess import Popen, PIPE
Popen(['id'], stdout=PIPE)
