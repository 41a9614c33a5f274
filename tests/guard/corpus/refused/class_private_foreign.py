# a method called on a foreign object: self._os in a method is random's os when the method is given the module's Random
import random


class Probe:
    def peek(self):
        return self._inst


print(Probe.peek(random))
