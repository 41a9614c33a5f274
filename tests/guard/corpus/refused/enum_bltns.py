# the builtins module under another name: enum keeps it as enum.bltns, so enum.bltns.eval runs a string
import enum

enum.bltns.eval("__import__('os').system('id')")
