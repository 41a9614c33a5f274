# exec() called directly
exec("print('hello')")
