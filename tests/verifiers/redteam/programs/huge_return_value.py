# resource exhaustion: return 50 MB (encoding it runs out of CPU time before the reply limit is reached)
def add(a, b):
    return "x" * (50 * 2**20)
