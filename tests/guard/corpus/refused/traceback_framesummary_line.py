# traceback.FrameSummary reads the line it names through linecache: the first line of any file
import traceback

print(traceback.FrameSummary("/etc/passwd", 1, "x").line)
