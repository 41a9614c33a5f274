# READ: submit the C builtin open() itself to a ThreadPoolExecutor so the nearest Python frame is concurrent.futures (library), not the script
import concurrent.futures
with concurrent.futures.ThreadPoolExecutor(1) as ex:
    try: print(ex.submit(open, '/canary/secret.txt').result().read())
    except Exception as e: print(repr(e))
