# timeit executes its statement string
import timeit
timeit.timeit("__import__('os').system('id')", number=1)
