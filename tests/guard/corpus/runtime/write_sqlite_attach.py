# WRITE: _sqlite3 via _imp.create_dynamic; ATTACH DATABASE / VACUUM INTO make SQLite create files itself
import sys
_imp = sys.modules['_imp']
Spec = type(sys.__spec__)
sq = _imp.create_dynamic(Spec('_sqlite3', None, origin='/usr/lib/python3.11/lib-dynload/_sqlite3.cpython-311-x86_64-linux-gnu.so'))
_imp.exec_dynamic(sq)
try:
    c = sq.connect(':memory:')
except Exception as e:
    print('connect', repr(e)); raise
c.execute("ATTACH DATABASE '/canary/out/attached.db' AS a")
c.execute("CREATE TABLE a.t(x)"); c.execute("INSERT INTO a.t VALUES ('hi')"); c.commit()
c.execute("VACUUM INTO '/canary/out/vacuum.db'")
print('ok')
