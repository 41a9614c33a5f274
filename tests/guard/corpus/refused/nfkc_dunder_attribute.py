# a dunder attribute with a full-width letter
print(().__ｃlass__)
