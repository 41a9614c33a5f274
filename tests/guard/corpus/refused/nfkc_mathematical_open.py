# mathematical bold letters spell open
print(𝐨𝐩𝐞𝐧('/etc/passwd').read())
