# fork / thread bomb: fork until it fails; children sleep
import os, time
n = 0
for _ in range(500):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    n += 1
def add(a, b):
    return a + b if n > 50 else None           # right only if the process limit did not hold
