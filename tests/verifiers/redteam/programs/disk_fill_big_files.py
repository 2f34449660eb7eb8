# disk fill: several 3 MB files (each under the per-file limit) past the total quota
total = 0
for i in range(40):
    try:
        with open(f"/sandbox/big{i}", "wb") as f:
            f.write(b"x" * (3 * 2**20))
        total += 3 * 2**20
    except OSError:
        break
def add(a, b):
    return a + b if total > 9 * 2**20 else None
