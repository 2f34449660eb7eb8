# disk fill: many 8 KB files until the disk quota stops it
import os
total = 0
for i in range(100000):
    try:
        with open(f"/sandbox/f{i}", "wb") as f:
            f.write(b"x" * 8192)
        total += 8192
    except OSError:
        break
def add(a, b):
    return a + b if total > 9 * 2**20 else None   # right only if it wrote past the 8 MB quota
