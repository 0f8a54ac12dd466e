"""A wrong chat server: it listens on the port but speaks no websocket at all."""

import socket
import sys

server = socket.create_server(("127.0.0.1", int(sys.argv[2])))
while True:
    conn, _ = server.accept()
    conn.close()
