# resource exhaustion: return a list nested 10 000 deep
def add(a, b):
    x = []
    for _ in range(10000):
        x = [x]
    return x
