# baseline READ: plain open() of the canary from the script's own code (expect refusal)
print(open('/canary/secret.txt').read())
