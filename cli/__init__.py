"""The shells: ``memo-taskrunner``'s commands (``cli.main``) and the embedded demo (``cli.demo``).

The one package that wires every layer (guard, memo, flows, api); nothing imports it.
"""
