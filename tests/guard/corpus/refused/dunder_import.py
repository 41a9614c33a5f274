# __import__ builds os from a string
__import__('os').system('id')
