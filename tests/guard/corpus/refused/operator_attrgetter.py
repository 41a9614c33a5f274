# attrgetter with a dunder path
from operator import attrgetter
print(attrgetter('__class__.__base__')(()))
