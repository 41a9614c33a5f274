# WRITE: readline loaded via _imp.create_dynamic; libreadline writes the history file itself (no 'open' audit event)
import sys
_imp = sys.modules['_imp']
Spec = type(sys.__spec__)
rl = _imp.create_dynamic(Spec('readline', None, origin='/usr/lib/python3.11/lib-dynload/readline.cpython-311-x86_64-linux-gnu.so'))
rl.add_history('written by libreadline')
rl.write_history_file('/canary/out/history.txt')
print('ok')
