# resource exhaustion: sleep past the wall clock
import time
def add(a, b):
    time.sleep(1000)
