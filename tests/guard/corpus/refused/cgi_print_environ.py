# cgi.print_environ prints the process environment (the container's secrets, if any) into the export
import cgi

cgi.print_environ()
