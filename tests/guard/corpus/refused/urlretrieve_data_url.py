# urllib.request.urlretrieve writes a data: URL to any file name, no network needed
import urllib.request

urllib.request.urlretrieve("data:text/plain,import%20os%3Bos.system('id')", "/tmp/memo_evil.py")
