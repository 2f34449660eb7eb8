# early exit: raise SystemExit(0) from the function (re-raised as a failure on the trusted side)
def add(a, b):
    raise SystemExit(0)
