# statistics re-exports random, whose _os is the os module: random's private name through a public re-export
import statistics

statistics.random._os.system("id")
