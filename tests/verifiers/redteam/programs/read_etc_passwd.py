# host file reads: read /etc/passwd
def add(a, b):
    open('/etc/passwd', "rb").read()
    return a + b                               # reached only if /etc/passwd is readable
