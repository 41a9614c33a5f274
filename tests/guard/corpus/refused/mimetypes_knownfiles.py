# mimetypes reads every file listed in mimetypes.knownfiles on its next use: words of any file end up in types_map
import mimetypes

mimetypes.knownfiles.append("/etc/passwd")
mimetypes.inited = False
mimetypes.guess_type("x.txt")
print(mimetypes.types_map)
