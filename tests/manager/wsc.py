#!/usr/bin/env python3
# wsc.py — a small RFC 6455 client for the manager tests (stdlib only), written apart from
# truced's C framing so the two check each other; also the hostile clients (ws_hostile.py).
import base64
import hashlib
import os
import re
import socket
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def connect(addr):
    """ADDR: a UNIX socket path, or tcp:HOST:PORT."""
    if addr.startswith("tcp:"):
        host, port = addr[4:].rsplit(":", 1)
        return socket.create_connection((host, int(port)), timeout=10)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(addr)
    return s


def handshake(addr, path, headers=None, key=None, version="13"):
    """Returns (socket, status, head, leftover bytes)."""
    s = connect(addr)
    key = key or base64.b64encode(os.urandom(16)).decode()
    h = {"Host": "truced", "Upgrade": "websocket", "Connection": "Upgrade",
         "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": version}
    h.update(headers or {})
    req = "GET %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in h.items() if kv[1] is not None)
    s.sendall((req + "\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else 0
    if status == 101:
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
        if b"Sec-WebSocket-Accept: " + want not in head:
            raise ValueError("wrong Sec-WebSocket-Accept in %r" % head)
    else:  # the JSON error body
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                rest += d
        except socket.timeout:
            pass
    return s, status, head.decode(errors="replace"), rest


def frame(op, payload, mask=True, fin=True, rsv=0, length=None):
    b0 = (0x80 if fin else 0) | rsv << 4 | op
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, m | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return hdr + payload
    k = os.urandom(4)
    return hdr + k + bytes(c ^ k[i % 4] for i, c in enumerate(payload))


class Conn:
    def __init__(self, sock, rest=b""):
        self.s, self.buf = sock, rest

    def send(self, data, op=2):
        self.s.sendall(frame(op, data))

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self.s.settimeout(max(0.01, deadline - time.time()))
            d = self.s.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d

    def recv(self, timeout=10):
        """One frame: (opcode, payload)."""
        deadline = time.time() + timeout
        self._need(2, deadline)
        op, n = self.buf[0] & 15, self.buf[1] & 127
        if self.buf[1] & 0x80:
            raise ValueError("server frame is masked")
        off = 2
        if n == 126:
            self._need(4, deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n, deadline)
        p, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return op, p

    def read_until(self, pattern, timeout=10):
        """Data frames until PATTERN (a bytes regex) matches what arrived; returns it all."""
        got, deadline = b"", time.time() + timeout
        while not re.search(pattern, got):
            op, p = self.recv(max(0.01, deadline - time.time()))
            if op == 8:
                raise EOFError("closed: %r (after %r)" % (p, got))
            if op in (1, 2):
                got += p
        return got

    def close_code(self, timeout=10):
        """Read until a close frame; its code (None when the connection just ended)."""
        deadline = time.time() + timeout
        try:
            while True:
                op, p = self.recv(max(0.01, deadline - time.time()))
                if op == 8:
                    return struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
        except (EOFError, ConnectionError):
            return None


def open_console(addr, name, what="console", headers=None):
    s, st, head, rest = handshake(addr, "/v1/vms/%s/%s" % (name, what), headers)
    if st != 101:
        raise RuntimeError("status %d: %s" % (st, rest.decode(errors="replace")))
    return Conn(s, rest)
