# getattr with a name the guard cannot see
import json
name = ''.join(['o', 's'])
thing = getattr(json, name)
