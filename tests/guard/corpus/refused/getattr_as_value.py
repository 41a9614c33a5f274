# getattr passed as a value, called later
from functools import reduce
reduce(getattr, ['__class__', '__base__'], ())
