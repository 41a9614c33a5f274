# a gbk encoding cookie: Python decodes the file as GBK, where the backslash after the CJK character is part of a character and ends the string
# coding: gbk
s = "中\"; print(open('/etc/passwd').read()) #"
