# a generator's gi_frame → f_globals
g = (x for x in [1])
print(g.gi_frame.f_globals)
