# open bound by the walrus operator
if (o := open):
    print(o('/etc/hostname').read())
