# WRITE: _dbm (ndbm) via _imp.create_dynamic; dbm_open creates the database file with no audit event
import sys
_imp = sys.modules['_imp']
Spec = type(sys.__spec__)
d = _imp.create_dynamic(Spec('_dbm', None, origin='/usr/lib/python3.11/lib-dynload/_dbm.cpython-311-x86_64-linux-gnu.so'))
_imp.exec_dynamic(d)
db = d.open('/canary/out/ndbm', 'c', 0o644)
db[b'k'] = b'v'; db.close()
print('ok')
