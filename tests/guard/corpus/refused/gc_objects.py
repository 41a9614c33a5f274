# gc reaches every live object
import gc
mods = [o for o in gc.get_objects() if type(o).__name__ == 'module']
