# always-equal / subclass: replace builtins.int with an always-equal subclass inside the program (it breaks its own server)
import ctypes
try:                                           # try to poke int's rich comparison slot
    ctypes.cast(id(int), ctypes.POINTER(ctypes.c_void_p))
except Exception:
    pass
import builtins
builtins.int = type("int", (int,), {"__eq__": lambda s, o: True})
def add(a, b):
    return builtins.int(0)
