#!/usr/bin/env python3
"""vsock_peer.py — the host end of the hostile vsock cases: listens on PATH (truce's
--vsock uds=X gives guest port P as X_P), writes "hostile-peer\n" plus 64 KiB on each connection,
then echoes what it reads. Stops after LIFETIME seconds."""
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


def main():
    path, lifetime = sys.argv[1], float(sys.argv[2])
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(512)
    threading.Timer(lifetime, lambda: os._exit(0)).start()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
