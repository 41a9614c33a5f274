# getattr(sys, 'modules') with a literal name
import sys
mods = getattr(sys, 'modules')
