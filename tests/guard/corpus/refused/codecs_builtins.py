# codecs re-exports builtins
import codecs
codecs.builtins.open('/etc/passwd')
