# exceptions dressed as passes: an AssertionError whose message says passed
def add(a, b):
    raise AssertionError("test passed")
