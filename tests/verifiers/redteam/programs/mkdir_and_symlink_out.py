# writes outside: write through a symlink that points out of its directory
import os
ok = False
try:
    os.symlink("/usr/lib", "/sandbox/lnk")
    open("/sandbox/lnk/rr-escape", "w").write("x")
    ok = True
except OSError:
    pass
def add(a, b):
    return a + b if ok else None
