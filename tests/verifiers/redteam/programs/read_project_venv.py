# host file reads: read the project's virtualenv
def add(a, b):
    open('/work/main/.venv/pyvenv.cfg', "rb").read()
    return a + b                               # reached only if /work/main/.venv/pyvenv.cfg is readable
