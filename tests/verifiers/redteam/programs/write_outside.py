# writes outside: create files in /tmp, /run/lock, /var/lock, /dev/shm, / and /usr
import os
wrote = []
for p in ("/tmp/rr-escape", "/run/lock/rr-escape", "/var/lock/rr-escape", "/dev/shm/rr-escape",
          "/rr-escape", "/usr/rr-escape", "/sandbox/../rr-escape", os.path.expanduser("~/../rr-escape")):
    try:
        with open(p, "w") as f:
            f.write("x")
        if os.path.realpath(p).startswith("/sandbox/"):
            continue
        wrote.append(p)
    except OSError:
        pass
def add(a, b):
    return a + b if wrote else None
