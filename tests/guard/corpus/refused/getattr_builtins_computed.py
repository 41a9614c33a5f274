# getattr on __builtins__ with a computed name
getattr(__builtins__, 'ev' + 'al')('1')
