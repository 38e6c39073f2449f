#!/usr/bin/env python3
"""vsock_peer.py — the host end of the hostile vsock cases. truce's --vsock uds=X gives guest
port P as the UNIX socket X_P. Listens on X_5000 (writes "hostile-peer\n" plus 64 KiB on each
connection, then echoes what it reads) and X_5001 (accepts and never reads: a sink the guest can
try to overfill). Usage: vsock_peer.py X LIFETIME_SECONDS."""
import os
import socket
import sys
import threading


def serve(conn):
    try:
        conn.sendall(b"hostile-peer\n" + b"x" * 65536)
        while True:
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
    except OSError:
        pass
    finally:
        conn.close()


def listen(path, handler):
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(512)
    held = []
    while True:
        conn, _ = srv.accept()
        if handler:
            threading.Thread(target=handler, args=(conn,), daemon=True).start()
        else:
            held.append(conn)  # never read


def main():
    base, lifetime = sys.argv[1], float(sys.argv[2])
    threading.Timer(lifetime, lambda: os._exit(0)).start()
    threading.Thread(target=listen, args=(base + "_5001", None), daemon=True).start()
    listen(base + "_5000", serve)


main()
