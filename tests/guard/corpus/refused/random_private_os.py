# random keeps os as random._os
import random
random._os.system('id')
