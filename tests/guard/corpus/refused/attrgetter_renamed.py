# attrgetter renamed on import, so its calls no longer look like attrgetter
from operator import attrgetter as pick

print(pick("_" + "_class__")(()))
