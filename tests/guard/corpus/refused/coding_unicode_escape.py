# a unicode_escape encoding cookie: Python decodes the escape in the comment below into a new line of code
# coding: unicode_escape
# just a comment \u000aprint(open("/etc/passwd").read())
