# a Unix socket to the container engine's API (Docker/Podman): a new privileged container is a way out
import socket

s = socket.socket(socket.AF_UNIX)
s.connect("/var/run/docker.sock")
s.sendall(b"GET /containers/json HTTP/1.0\r\n\r\n")
print(s.recv(65536))
