# WRITE: logging.FileHandler / gzip.open for writing (library opens for writing)
import logging, gzip
for fn in [lambda: logging.FileHandler('/canary/out/log.txt'), lambda: gzip.open('/canary/out/x.gz', 'wb'),
           lambda: logging.FileHandler('/canary/out/log2.txt', delay=True).emit(logging.makeLogRecord({'msg': 'x'}))]:
    try: print(fn())
    except Exception as e: print(repr(e))
