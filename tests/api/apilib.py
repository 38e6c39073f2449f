"""apilib.py — helpers for the API tests: a raw HTTP/1.1 client on a UNIX socket, a truce process
with --api-sock, and validation of response bodies against the Firecracker spec (swagger 2.0)."""
import json
import os
import socket
import subprocess
import time

import jsonschema
import yaml


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body) if self.body else None

    def fault(self):
        j = self.json()
        return j.get("fault_message", "") if isinstance(j, dict) else ""


def read_response(sock, buf=b""):
    """Read one response from SOCK (BUF: bytes already read). Returns (Response, leftover) or
    (None, b"") when the server closed the connection first."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Response(status, headers, rest[:n].decode()), rest[n:]


def build_request(method, path, body=None, extra_headers=None):
    data = b""
    if body is not None:
        data = body if isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    for k, v in (extra_headers or {}).items():
        head += f"{k}: {v}\r\n"
    return head.encode() + b"\r\n" + data


class Client:
    """Keep-alive connection to the API socket."""

    def __init__(self, path, timeout=30):
        self.path = path
        self.timeout = timeout
        self.sock = None
        self.buf = b""

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None

    def request(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if not self.sock:
                self.connect()
            try:
                self.sock.sendall(build_request(method, path, body, headers))
                r, self.buf = read_response(self.sock, self.buf)
            except (BrokenPipeError, ConnectionResetError):
                r = None
            if r is not None:
                if r.headers.get("connection", "").lower() == "close":
                    self.close()
                return r
            self.close()  # the server closed an idle connection: retry once on a new one
        raise ConnectionError(f"{method} {path}: connection closed without a response")


def raw_exchange(path, data, timeout=10, shut=True):
    """Send DATA on a fresh connection, return every response until the server closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    out, buf = [], b""
    try:
        while True:
            r, buf = read_response(s, buf)
            if r is None:
                break
            out.append(r)
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise TimeoutError(f"the server neither answered nor closed within {timeout} s "
                           f"(got {len(out)} responses)")
    finally:
        s.close()
    return out


class Truce:
    """build/truce serving the API on a socket in WORKDIR."""

    def __init__(self, binary, workdir, name, extra=()):
        self.sock = os.path.join(workdir, name + ".sock")
        self.stderr_path = os.path.join(workdir, name + ".stderr")
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([binary, "--api-sock", self.sock, "--id", name, *extra],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"truce did not create {self.sock}: {self.log()}")
            time.sleep(0.01)
        self.client = Client(self.sock)

    def request(self, method, path, body=None, headers=None):
        return self.client.request(method, path, body, headers)

    def log(self):
        self.stderr.flush()
        with open(self.stderr_path) as f:
            return f.read()[-600:]

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            if self.wait(10) is None:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        return self.proc.returncode


class Spec:
    """The swagger document: operations and their response schemas."""

    def __init__(self, path):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.defs = self.doc["definitions"]

    def operations(self):
        for p, item in self.doc["paths"].items():
            for m in item:
                yield m.upper(), p

    def check(self, method, template, r):
        """Return None when R is allowed by the spec for METHOD TEMPLATE, else the reason."""
        op = self.doc["paths"].get(template, {}).get(method.lower())
        if op is None:
            return f"{method} {template} is not in the spec"
        responses = op["responses"]
        resp = responses.get(r.status, responses.get(str(r.status), responses.get("default")))
        if resp is None:
            return f"status {r.status} is not a response of {method} {template}"
        schema = resp.get("schema")
        if r.status == 204 or schema is None:
            return None if not r.body else f"status {r.status} must have no body: {r.body[:80]}"
        try:
            body = json.loads(r.body)
        except ValueError:
            return f"body is not JSON: {r.body[:80]}"
        full = dict(schema)
        full["definitions"] = self.defs
        try:
            jsonschema.Draft4Validator(full).validate(body)
        except jsonschema.ValidationError as e:
            return f"body does not match the spec schema: {e.message}"
        if r.status >= 400 and not isinstance(body.get("fault_message"), str):
            return "error body has no fault_message"
        return None
