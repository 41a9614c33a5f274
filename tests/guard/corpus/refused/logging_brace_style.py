# a '{' style logging format reads attributes like str.format: the logged function's globals
import logging

logging.basicConfig(format="{msg.__globals__}", style="{")


def target():
    pass


logging.getLogger().warning(target)
