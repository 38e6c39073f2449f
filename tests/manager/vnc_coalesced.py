#!/usr/bin/env python3
# vnc_coalesced.py ADDR VM — an RFB client through truced's WebSocket VNC proxy that sends its
# SetPixelFormat, SetEncodings and FramebufferUpdateRequest as three frames in one TCP write (as
# noVNC does on a busy machine); the proxy must pass all three on and the first update must show
# the display guest's red quadrant. Prints "OK WxH rgb" or what went wrong.
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsc  # noqa: E402

addr, vm = sys.argv[1], sys.argv[2]
c = wsc.open_console(addr, vm, "vnc", {"Sec-WebSocket-Protocol": "binary"})
buf = b""


def need(n):
    """The next N bytes of the RFB stream, however the proxy framed them."""
    global buf
    while len(buf) < n:
        op, p = c.recv(10)
        buf += p
    out, buf = buf[:n], buf[n:]
    return out


version = need(12)
c.send(version)
ntypes = need(1)[0]
types = need(ntypes)
if 1 not in types:
    sys.exit("security types %r offer no None" % list(types))
c.send(b"\x01")
if struct.unpack("!I", need(4))[0] != 0:
    sys.exit("security result not OK")
c.send(b"\x01")  # ClientInit: shared
w, h = struct.unpack("!HH", need(4))
pixfmt = need(16)
need(struct.unpack("!I", need(4))[0])  # the desktop name
# 32 bpp, little-endian, 0x00RRGGBB; Raw only; the whole screen
spf = b"\x00\x00\x00\x00" + struct.pack("!BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
enc = struct.pack("!BxHi", 2, 1, 0)
fbur = struct.pack("!BBHHHH", 3, 0, 0, 0, w, h)
c.s.sendall(wsc.frame(2, spf) + wsc.frame(2, enc) + wsc.frame(2, fbur))
while True:
    t = need(1)[0]
    if t == 0:
        break
    if t == 2:  # Bell
        continue
    sys.exit("server message %d before the update" % t)
need(1)
rgb = None
for _ in range(struct.unpack("!H", need(2))[0]):
    x, y, rw, rh, e = struct.unpack("!HHHHi", need(12))
    if e != 0:
        continue  # a pseudo-encoding (DesktopSize) carries no pixels
    px = need(rw * rh * 4)
    if x <= 80 < x + rw and y <= 50 < y + rh:
        o = ((50 - y) * rw + (80 - x)) * 4
        rgb = "%06x" % (struct.unpack("<I", px[o:o + 4])[0] & 0xffffff)
print("OK %dx%d %s" % (w, h, rgb))
