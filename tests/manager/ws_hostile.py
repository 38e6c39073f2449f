#!/usr/bin/env python3
# ws_hostile.py ADDR VM — hostile WebSocket clients against truced's console endpoint: each
# breaks one rule of RFC 6455 and must get its close code (or a 400 at the handshake), and after
# each one the console must attach again and answer. One PASS/FAIL line a case.
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsc  # noqa: E402

addr, vm = sys.argv[1], sys.argv[2]
path = "/v1/vms/%s/console" % vm


def result(name, ok, detail):
    print("%s manager-ws-%s%s" % ("PASS" if ok else "FAIL", name, (" (%s)" if ok else ": %s") % detail))


def still_answers():
    """A fresh attach echoes a command: the slot was released and the relay works."""
    for _ in range(50):
        try:
            c = wsc.open_console(addr, vm)
            break
        except RuntimeError:
            time.sleep(0.05)  # the previous connection's thread is still ending
    else:
        return False
    try:
        c.send(b"echo alive\r")
        c.read_until(rb"\nalive\r?\n", 10)
        c.s.close()
        return True
    except (EOFError, OSError, ValueError):
        return False


def attach(**kw):
    """The handshake, retried while the previous client's connection is still being let go
    (truced answers 409 while the console is attached, before it looks at the headers)."""
    for _ in range(50):
        s, st, head, rest = wsc.handshake(addr, path, **kw)
        if st != 409:
            break
        s.close()
        time.sleep(0.05)
    return s, st, head, rest


def close_case(name, raw, want):
    s, st, head, rest = attach()
    if st != 101:
        return result(name, False, "handshake %d" % st)
    c = wsc.Conn(s, rest)
    try:
        s.sendall(raw)
    except OSError:
        pass
    code = c.close_code(10)
    s.close()
    ok = code == want and still_answers()
    result(name, ok, "close %s, console answers after" % code if ok else "close %s, want %d" % (code, want))


close_case("unmasked", wsc.frame(2, b"abc", mask=False), 1002)
close_case("rsv-bits", wsc.frame(2, b"abc", rsv=4), 1002)
close_case("bad-opcode", wsc.frame(3, b"abc"), 1002)
close_case("huge-length", wsc.frame(2, b"", length=1 << 40)[:10] + b"kkkk", 1009)
close_case("top-bit-length", b"\x82\xff" + struct.pack("!Q", 1 << 63) + b"kkkk", 1002)
close_case("long-ping", wsc.frame(9, b"p" * 126), 1002)
close_case("fragmented-close", wsc.frame(8, b"\x03\xe8", fin=False), 1002)
close_case("stray-continuation", wsc.frame(0, b"abc"), 1002)
close_case("bad-utf8", wsc.frame(1, b"\xc0\xaf"), 1007)
close_case("over-64k", wsc.frame(2, b"x" * 65537), 1009)

# Ping: a pong with the same payload.
s, st, head, rest = attach()
c = wsc.Conn(s, rest)
c.s.sendall(wsc.frame(9, b"ping-42"))
got = None
for _ in range(20):
    op, p = c.recv(5)
    if op == 10:
        got = p
        break
c.s.close()
result("ping-pong", got == b"ping-42", "pong %r" % got)

# Half a frame, then the client vanishes; a client that sends nothing at all and goes.
s, st, head, rest = attach()
s.sendall(wsc.frame(2, b"x" * 1000)[:300])
s.close()
s, st, head, rest = attach()
s.shutdown(socket.SHUT_RDWR)
s.close()
result("half-frame-gone", still_answers(), "the console answers after two vanished clients")

# Handshake errors: 400 naming the header, and no upgrade.
for name, kw, word in (("bad-key", {"key": "short"}, b"Sec-WebSocket-Key"),
                       ("bad-version", {"version": "8"}, b"Sec-WebSocket-Version")):
    s, st, head, rest = attach(**kw)
    s.close()
    result(name, st == 400 and word in rest, "%d %s" % (st, rest[:80].decode(errors="replace")))
s, st, head, rest = attach(headers={"Connection": "keep-alive"})
s.close()
result("no-connection-upgrade", st == 400 and b"Connection" in rest, "%d" % st)

# Fragmented input: a message in three frames reaches the guest whole.
s, st, head, rest = attach()
c = wsc.Conn(s, rest)
c.s.sendall(wsc.frame(2, b"echo fr", fin=False) + wsc.frame(0, b"ag", fin=False) +
            wsc.frame(9, b"") + wsc.frame(0, b"ments\r"))
try:
    c.read_until(rb"\nfragments\r?\n", 10)
    ok = True
except (EOFError, OSError) as e:
    ok = e
c.s.close()
result("fragmented", ok is True, "three fragments and a ping between them" if ok is True else ok)
