# __spec__.loader
print(__spec__.loader)
