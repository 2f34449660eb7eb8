# exceptions dressed as passes: StopIteration inside all(map(candidate, ...)) would end the loop with True
def inc(x):
    raise StopIteration
