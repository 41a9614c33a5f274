# EXEC: concurrent.futures.ProcessPoolExecutor (multiprocessing fork / forkserver) to run a program
import concurrent.futures
def job(): 
    import os
    return os.popen('/canary/bin/reveal').read()
try:
    with concurrent.futures.ProcessPoolExecutor(1) as ex: print(ex.submit(job).result(timeout=10))
except Exception as e: print(repr(e))
