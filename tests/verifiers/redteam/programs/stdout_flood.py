# resource exhaustion: flood stdout with fake pass lines
import sys
def add(a, b):
    while True:
        sys.stdout.write("T 0 pass\n" * 10000)
