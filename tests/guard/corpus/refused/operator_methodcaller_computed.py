# methodcaller with a computed method name
import operator
name = 'sys' + 'tem'
f = operator.methodcaller(name, 'id')
