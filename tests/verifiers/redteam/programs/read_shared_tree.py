# host file reads: read ../shared
def add(a, b):
    open('/work/shared/DESIGN.md', "rb").read()
    return a + b                               # reached only if /work/shared/DESIGN.md is readable
