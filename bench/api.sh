#!/usr/bin/env bash
# api.sh — control-plane benchmark: time (wall and CPU) from process start to the API socket
# answering GET /, next to the bare exec of the same binary (`truce --version`), alternating, and
# the latency of API requests on a keep-alive connection; medians over RUNS runs. Writes its
# section of bench/RESULTS.md (between the bench/api.sh markers) and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-100}
TRUCE=${TRUCE:-build/truce}
[ -x "$TRUCE" ] || { echo "api.sh: build $TRUCE first (make)" >&2; exit 1; }

section=$(PYTHONDONTWRITEBYTECODE=1 python3 - "$TRUCE" "$RUNS" <<'EOF'
import os, socket, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, "tests/api")
from apilib import Client

truce, runs = os.path.abspath(sys.argv[1]), int(sys.argv[2])
tick = os.sysconf("SC_CLK_TCK")

def cpu_ms(pid):
    """CPU time of every thread of PID so far (schedstat: ns on the CPU)."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e6

def api_ready(work, i):
    sock = os.path.join(work, f"b{i}.sock")
    t0 = time.perf_counter()
    p = subprocess.Popen([truce, "--api-sock", sock], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if p.poll() is not None:
                sys.exit(f"truce exited with {p.returncode}")
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    if not s.recv(64).startswith(b"HTTP/1.1 200"):
        sys.exit("GET / did not answer 200")
    wall = (time.perf_counter() - t0) * 1e3
    cpu = cpu_ms(p.pid)
    s.close()
    p.terminate()
    p.wait()
    return wall, cpu

def bare_exec():
    t0 = time.perf_counter()
    subprocess.run([truce, "--version"], stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t0) * 1e3

def latency(c, method, path, body, want):
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = c.request(method, path, body)
        out.append((time.perf_counter() - t0) * 1e6)
        if r.status != want:
            sys.exit(f"{method} {path}: {r.status}")
    return statistics.median(out)

with tempfile.TemporaryDirectory() as work:
    ready, cpu, bare = [], [], []
    for i in range(runs):  # alternate: the peer and truce see the same machine state
        bare.append(bare_exec())
        w, c = api_ready(work, i)
        ready.append(w)
        cpu.append(c)
    sock = os.path.join(work, "lat.sock")
    p = subprocess.Popen([truce, "--api-sock", sock], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(sock):
        time.sleep(0.001)
    c = Client(sock)
    for _ in range(runs):  # warm up: the client and server threads settle on their CPUs
        c.request("GET", "/version")
    lat = [
        ("GET /", latency(c, "GET", "/", None, 200)),
        ("GET /vm/config", latency(c, "GET", "/vm/config", None, 200)),
        ("PUT /machine-config", latency(c, "PUT", "/machine-config",
                                        {"vcpu_count": 2, "mem_size_mib": 256}, 204)),
        ("PUT /machine-config (400, unknown field)",
         latency(c, "PUT", "/machine-config", {"vcpu_count": 2, "bogus": 1}, 400)),
    ]
    c.close()
    p.terminate()
    p.wait()

med = statistics.median
host = os.uname()
print(f"Command: `RUNS={runs} bench/api.sh` on {host.nodename} ({host.release}, "
      f"{os.cpu_count()} CPUs), {time.strftime('%Y-%m-%d')}. Medians of {runs} runs; the bare "
      "exec and the API start alternate. Lab figures of a shared 2-core VM: compare ratios.\n")
print("| measure | median | ratio |")
print("| --- | ---: | ---: |")
print(f"| `truce --version` (bare exec + dynamic linking), wall | {med(bare):.2f} ms | 1.00 |")
print(f"| `truce --api-sock` start to GET / answered, wall | {med(ready):.2f} ms | "
      f"{med(ready) / med(bare):.2f} |")
print(f"| `truce --api-sock` CPU time (all threads) to API ready | {med(cpu):.2f} ms | "
      f"Firecracker's promise: <= 8 ms |")
for name, v in lat:
    print(f"| {name} round trip, keep-alive | {v:.0f} µs | |")
EOF
)

results=bench/RESULTS.md
begin='<!-- bench/api.sh begin -->'
end='<!-- bench/api.sh end -->'
[ -f "$results" ] || printf '# Benchmark results\n' >"$results"
block=$(printf '%s\n## Control plane (bench/api.sh)\n\n%s\n%s' "$begin" "$section" "$end")
python3 - "$results" "$begin" "$end" "$block" <<'EOF'
import sys
path, begin, end, block = sys.argv[1:]
text = open(path).read()
if begin in text and end in text:
    text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(path, "w").write(text)
EOF
printf '%s\n' "$section"
