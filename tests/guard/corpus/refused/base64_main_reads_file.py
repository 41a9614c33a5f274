# base64.main() encodes the files named in sys.argv to stdout: any file into the export
import base64
import sys

sys.argv[1:] = ["-e", "/etc/passwd"]
base64.main()
