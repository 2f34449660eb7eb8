# network: TCP connection to the internet
import socket
def add(a, b):
    socket.create_connection(("1.1.1.1", 53), timeout=1).close()
    return a + b
