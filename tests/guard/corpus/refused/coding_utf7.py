# a utf-7 encoding cookie: Python decodes the plus-escaped sequence in the comment below as a new line of code
# coding: utf-7
# just a comment +AAo-print(open("/etc/passwd").read())
