# traceback → tb_frame → f_back.f_globals
import sys
try:
    1 / 0
except ZeroDivisionError:
    tb = sys.exc_info()[2]
    g = tb.tb_frame.f_back.f_globals
