# codecs.open is open
import codecs
print(codecs.open('/etc/passwd', encoding='utf-8').read())
