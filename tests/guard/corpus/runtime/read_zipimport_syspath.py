# READ: put the canary on sys.path so zipimport / FileFinder open it while importing an allowed, not-yet-loaded module
import sys
sys.path.insert(0, '/canary/secret.txt'); sys.path.insert(0, '/canary')
sys.path_importer_cache.clear()
try:
    import calendar
    print('imported', calendar.__file__)
except Exception as e: print(repr(e))
