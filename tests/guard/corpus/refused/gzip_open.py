# gzip.open opens files
import gzip
print(gzip.open('/var/log/syslog.1.gz').read())
