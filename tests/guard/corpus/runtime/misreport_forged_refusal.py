# MISREPORT: escape (AF_UNIX bind) and then forge the guard's refusal line + exit 77, so operators see a 'refused' run
import sys, urllib.request
socket = sys.modules['socket']; os = sys.modules['os']
socket.socket(socket.AF_UNIX).bind('/canary/out/forged')
sys.stdout.flush()
os.write(2, b"memo-guard: refused\topen\tmain.py\t1\topen() for reading '/etc/passwd' outside the script's tree\n")
os._exit(77)
