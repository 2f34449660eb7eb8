# network: connect to host UNIX sockets
import socket
def add(a, b):
    for path in ("/run/docker.sock", "/var/run/docker.sock", "/tmp/.X11-unix/X0", "/run/systemd/private"):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            return a + b
        except OSError:
            pass
    return None
