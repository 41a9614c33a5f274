# warnings.formatwarning quotes the source line of the file and line number it is given: any file, by name
import warnings

for number in range(1, 30):
    print(warnings.formatwarning("", UserWarning, "/etc/passwd", number), end="")
