# exec renamed through a from-import
from builtins import exec as run
run('print(1)')
