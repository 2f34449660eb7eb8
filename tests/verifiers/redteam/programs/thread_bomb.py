# fork / thread bomb: start threads until it fails
import threading, time
n = 0
for _ in range(500):
    try:
        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
    except (RuntimeError, MemoryError, OSError):
        break
    n += 1
def add(a, b):
    return a + b if n > 50 else None
