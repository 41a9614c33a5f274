# breakpoint() starts pdb
breakpoint()
