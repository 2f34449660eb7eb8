# host file reads: read a home directory
def add(a, b):
    open('/root/.bashrc', "rb").read()
    return a + b                               # reached only if /root/.bashrc is readable
