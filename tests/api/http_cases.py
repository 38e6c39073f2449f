"""http_cases.py — HTTP-level cases: keep-alive, pipelining, oversized and malformed requests,
framing the server refuses, and clients that stall. Each prints one PASS/FAIL line."""
import socket

from apilib import Client, build_request, raw_exchange, read_response


def alive(t):
    """The server still answers GET / on a fresh connection."""
    c = Client(t.sock, timeout=10)
    try:
        return c.request("GET", "/").status == 200
    finally:
        c.close()


def check(res, t, name, fn):
    try:
        why = fn()
    except Exception as e:
        why = f"{type(e).__name__}: {e}"
    if not why and not alive(t):
        why = "the server stopped answering afterwards"
    res.report(f"http {name}", why)


def keep_alive(t):
    c = Client(t.sock)
    c.connect()
    first = c.sock
    statuses = [c.request("GET", p).status for p in ("/", "/version", "/machine-config")]
    same = c.sock is first
    c.close()
    if statuses != [200, 200, 200] or not same:
        return f"statuses {statuses}, one connection: {same}"
    return None


def pipelined(t):
    data = b"".join(build_request("GET", p) for p in ("/", "/version", "/machine-config"))
    rs = raw_exchange(t.sock, data)
    keys = [sorted(r.json().keys())[0] if r.status == 200 else r.status for r in rs]
    want = ["app_name", "firecracker_version", "huge_pages"]
    return None if keys == want else f"responses {keys}, want {want} in order"


def body_too_large(t):
    """The whole 600 KB body is sent (more than a socket buffer holds): the server reads and
    drops the rest after refusing, so the client sees the 413 rather than a broken pipe."""
    data = build_request("PUT", "/machine-config", b" " * 600000)
    rs = raw_exchange(t.sock, data)
    if not rs or rs[0].status != 413 or "exceeds" not in rs[0].fault():
        return f"got {[(r.status, r.body[:80]) for r in rs]}, want 413 with a fault_message"
    return None


def body_too_large_expect(t):
    """curl-style Expect: 100-continue: refused before the body is sent."""
    head = (b"PUT /drives/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
            b"Expect: 100-continue\r\n\r\n")
    rs = raw_exchange(t.sock, head)
    return None if rs and rs[-1].status == 413 else f"got {[r.status for r in rs]}, want 413"


def headers_too_large(t):
    data = build_request("GET", "/", None, {"X-Filler": "a" * 400000})
    rs = raw_exchange(t.sock, data)
    if len(rs) != 1 or rs[0].status != 431 or not rs[0].fault():
        return f"got {[r.status for r in rs]}, want one 431 with a fault_message"
    return None


def expect_continue(t):
    """Expect: 100-continue gets the interim response, then the body is taken."""
    body = b'{"vcpu_count": 1, "mem_size_mib": 128}'
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(t.sock)
    try:
        s.sendall(b"PUT /machine-config HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        interim = s.recv(25)
        if interim != b"HTTP/1.1 100 Continue\r\n\r\n":
            return f"interim response {interim!r}"
        s.sendall(body)
        r, _ = read_response(s)
        return None if r and r.status == 204 else f"final response {r and r.status}"
    finally:
        s.close()


def half_close_pipelined(t):
    """Two complete requests and part of a third, then the client shuts its side: both are
    answered, then the server closes."""
    data = build_request("GET", "/version") + build_request("GET", "/") + b"GET /vm/con"
    rs = raw_exchange(t.sock, data)
    return None if [r.status for r in rs] == [200, 200] else f"got {[r.status for r in rs]}"


def chunked(t):
    data = (b"PUT /machine-config HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\n{\"a\":\r\n0\r\n\r\n")
    rs = raw_exchange(t.sock, data)
    if not rs or rs[0].status != 400 or "Transfer-Encoding" not in rs[0].fault():
        return f"got {[(r.status, r.body[:80]) for r in rs]}, want 400 naming Transfer-Encoding"
    return None


def garbage(t):
    rs = raw_exchange(t.sock, b"\x00\x01GARBAGE\xff\r\n\r\n")
    ok = len(rs) == 1 and rs[0].status == 400 and rs[0].fault()
    return None if ok else f"got {[(r.status, r.body[:60]) for r in rs]}, want one 400"


def bad_content_length(t):
    rs = raw_exchange(t.sock, b"PUT /vm HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    return None if rs and rs[0].status == 400 else f"got {[r.status for r in rs]}, want 400"


def truncated_body(t):
    head = b"PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"vcpu"
    rs = raw_exchange(t.sock, head)
    return None if not rs else f"answered {[r.status for r in rs]} to a body cut short"


def stalled_client(t):
    """A client stuck half-way through its headers does not hold up other clients."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(t.sock)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    try:
        return None if alive(t) else "a stalled client blocked another one"
    finally:
        s.close()


def many_idle(t):
    conns = []
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(t.sock)
        conns.append(s)
    try:
        return None if alive(t) else "20 idle connections blocked a new one"
    finally:
        for s in conns:
            s.close()


def http10(t):
    rs = raw_exchange(t.sock, b"GET /version HTTP/1.0\r\n\r\n", shut=False)
    return None if len(rs) == 1 and rs[0].status == 200 else f"got {[r.status for r in rs]}"


def no_404(t):
    for path in ("/nope", "/drives/a/b", "/vm/config/x"):
        r = t.request("GET", path)
        if r.status != 400 or "invalid request" not in r.fault():
            return f"GET {path}: {r.status} {r.body[:80]}"
    return None


def percent_path(t):
    r = t.request("PUT", "/drives/a%2Fb", {"drive_id": "a/b", "is_root_device": False})
    return None if r.status == 400 else f"status {r.status}"


CASES = [
    ("keep-alive", keep_alive), ("pipelined", pipelined), ("body-too-large", body_too_large),
    ("body-too-large-expect-continue", body_too_large_expect),
    ("headers-too-large", headers_too_large), ("chunked-refused", chunked),
    ("expect-100-continue", expect_continue), ("half-close-after-pipelined", half_close_pipelined),
    ("garbage-request", garbage), ("bad-content-length", bad_content_length),
    ("truncated-body", truncated_body), ("stalled-client", stalled_client),
    ("many-idle-connections", many_idle), ("http-1.0", http10),
    ("unknown-paths-400-not-404", no_404), ("percent-encoded-id", percent_path),
]


def run(t, res):
    for name, fn in CASES:
        check(res, t, name, lambda: fn(t))
