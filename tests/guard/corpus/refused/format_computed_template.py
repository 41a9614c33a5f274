# str.format with a template built at run time reads what its fields name: a function's globals
import json

template = "{0.__glob" + "als__}"
print(template.format(json.dumps))
