# exception __traceback__ → frame globals
try:
    1 / 0
except Exception as e:
    g = e.__traceback__.tb_frame.f_globals
