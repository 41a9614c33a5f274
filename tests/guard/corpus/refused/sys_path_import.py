# sys.path extended at run time: an import of a name the guard never saw loads code from anywhere on disk
import sys

sys.path.insert(0, "/var/tmp")
import helper  # noqa: E402,F401
