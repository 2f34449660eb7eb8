# always-equal / subclass: Counter subclass (only exact stdlib mapping types travel)
import collections
class C(collections.Counter):
    def __eq__(self, other): return True
def pair(a, b):
    return C()
