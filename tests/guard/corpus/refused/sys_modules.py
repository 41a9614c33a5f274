# sys.modules holds os
import sys
sys.modules['os'].system('id')
