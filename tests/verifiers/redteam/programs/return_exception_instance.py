# exceptions dressed as passes: return an exception object
def add(a, b):
    return Exception("ok")
