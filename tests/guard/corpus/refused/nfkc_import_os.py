# full-width module name in an import
import ｏｓ
ｏｓ.system('id')
