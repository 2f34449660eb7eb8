# resource exhaustion: spin past the CPU limit
def add(a, b):
    while True:
        pass
