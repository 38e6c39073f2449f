#!/usr/bin/env bash
# display.sh — what a display costs: truce's resident memory (VmRSS) running a tiny guest with no
# display, with `--display std`, with `--display vnc=` (no client, then one client connected), and
# the same guest drawing a 320x200x32 screen; and the bytes a connected VNC client receives while
# the screen does not change. Medians of N runs (default 5). Host's /dev/kvm, tiny guests from
# `make guests`. Writes its section of bench/RESULTS.md.
#   bench/display.sh [N]
# With --lab, the lab part instead (bench/lab/display-scenario.sh in one nested-lab run): VMM
# memory with a display and VNC server vs without, truce vs QEMU -vga std -vnc, and the time from
# start to GRUB's gfxterm menu under OVMF, truce vs QEMU; its own section of bench/RESULTS.md.
#   bench/display.sh --lab [REPS]     (see bench/display-lab.sh; --lab --report rewrites it)
set -u
cd "$(dirname "$0")/.."
if [ "${1:-}" = --lab ]; then
    shift
    exec bench/display-lab.sh "$@"
fi
N=${1:-5}
TRUCE=build/truce
G=build/guests
VNCTOOL=build/tools/vnctool
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
[ -x $TRUCE ] && [ -f $G/display.elf ] && [ -x $VNCTOOL ] || {
    echo "bench/display.sh: make build/truce guests first" >&2
    exit 1
}

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
# memory only this process holds and nothing can share or drop (anonymous and written pages)
dirty_kib() { awk '/^Private_Dirty/ { print $2 }' "/proc/$1/smaps_rollup"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# one KIND: start a VM, wait until the guest is up, measure, stop it. Prints KiB.
one() {
    local kind=$1 sock="$OUT/v.sock" ser="$OUT/serial" pid rss
    rm -f "$sock" "$ser"
    case $kind in
    none) $TRUCE run --kernel $G/actions.elf --cmdline spin --console "file:$ser" & ;;
    std) $TRUCE run --kernel $G/actions.elf --cmdline spin --console "file:$ser" --display std & ;;
    vnc | vnc-client)
        $TRUCE run --kernel $G/actions.elf --cmdline spin --console "file:$ser" \
            --display "vnc=unix:$sock" &
        ;;
    vnc-drawn)
        $TRUCE run --kernel $G/display.elf --console "file:$ser" --display "vnc=unix:$sock" &
        ;;
    esac
    pid=$!
    for _ in $(seq 200); do grep -qE "spin|drawn" "$ser" 2>/dev/null && break; sleep 0.1; done 2>/dev/null
    case $kind in
    vnc-client | vnc-drawn) $VNCTOOL "$sock" snap "$OUT/s.ppm" >/dev/null 2>&1 ;;
    esac
    sleep 1
    rss=$(rss_kib $pid)
    echo "$(dirty_kib $pid)" >>"$OUT/$kind.dirty"
    kill $pid
    wait $pid 2>/dev/null
    echo "$rss"
}

exec 3>&2 2>/dev/null # truce's own lines (the PVM warning, the stop) are not the bench's output
declare -A MED DIRTY
for kind in none std vnc vnc-client vnc-drawn; do
    for _ in $(seq "$N"); do one $kind; done >"$OUT/$kind"
    MED[$kind]=$(median <"$OUT/$kind")
    DIRTY[$kind]=$(median <"$OUT/$kind.dirty")
done

# idle screen: bytes a client receives over 5 s once the first full frame arrived
idle_bytes() {
    local sock="$OUT/i.sock" ser="$OUT/iserial" pid
    rm -f "$sock" "$ser"
    $TRUCE run --kernel $G/display.elf --console "file:$ser" --display "vnc=unix:$sock" &
    pid=$!
    for _ in $(seq 200); do grep -q drawn "$ser" 2>/dev/null && break; sleep 0.1; done
    python3 - "$sock" <<'EOF'
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
def rx(n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise SystemExit('closed')
        b += c
    return b
rx(12); s.send(b'RFB 003.008\n')
n = rx(1)[0]; rx(n); s.send(b'\x01'); rx(4)          # security type None
s.send(b'\x01'); w, h = struct.unpack('>HH', rx(4)); rx(16); rx(struct.unpack('>I', rx(4))[0])
s.send(struct.pack('>BxHI', 2, 1, 0))                # SetEncodings: Raw
def req(inc): s.send(struct.pack('>BBHHHH', 3, inc, 0, 0, w, h))
req(0)
s.setblocking(False)
def drain():
    t = 0
    while True:
        try:
            c = s.recv(1 << 20)
        except BlockingIOError:
            return t
        if not c: return t
        t += len(c)
first, t0 = 0, time.time()
while first < 16 + w * h * 4 and time.time() - t0 < 10:  # the whole first frame (raw, 32 bpp)
    time.sleep(0.05); first += drain()
total = 0
for _ in range(50):                                  # 5 s of incremental requests, as viewers do
    req(1); time.sleep(0.1); total += drain()
print(first, total)
EOF
    kill $pid
    wait $pid 2>/dev/null
}
read -r first idle < <(idle_bytes)

kib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f MiB", (a - b) / 1024 }'; }
section=$(
    cat <<EOF
<!-- bench/display.sh begin: this section is rewritten by bench/display.sh -->
## Display and VNC: what they cost (tiny guest, host's /dev/kvm)

Produced by \`bench/display.sh $N\` on $(date -u +%F) (truce $($TRUCE --version | cut -d' ' -f2)),
$(nproc) host cores. VmRSS of the truce process 1 s after the guest is up, median of $N runs;
guest \`actions.elf spin\` (draws nothing) or \`display.elf\` (sets 320x200x32 and draws it);
128 MiB guest RAM, of which the tiny guest touches little.

| configuration | VmRSS | vs no display | private dirty | vs no display |
|---|---|---|---|---|
| no \`--display\` | $(kib "${MED[none]}") | | $(kib "${DIRTY[none]}") | |
| \`--display std\` | $(kib "${MED[std]}") | $(delta "${MED[std]}" "${MED[none]}") | $(kib "${DIRTY[std]}") | $(delta "${DIRTY[std]}" "${DIRTY[none]}") |
| \`--display vnc=unix:PATH\`, no client | $(kib "${MED[vnc]}") | $(delta "${MED[vnc]}" "${MED[none]}") | $(kib "${DIRTY[vnc]}") | $(delta "${DIRTY[vnc]}" "${DIRTY[none]}") |
| the same, one client read the screen (640x480) | $(kib "${MED[vnc-client]}") | $(delta "${MED[vnc-client]}" "${MED[none]}") | $(kib "${DIRTY[vnc-client]}") | $(delta "${DIRTY[vnc-client]}" "${DIRTY[none]}") |
| \`display.elf\` drew 320x200x32, one client read it | $(kib "${MED[vnc-drawn]}") | $(delta "${MED[vnc-drawn]}" "${MED[none]}") | $(kib "${DIRTY[vnc-drawn]}") | $(delta "${DIRTY[vnc-drawn]}" "${DIRTY[none]}") |

- Private dirty (\`Private_Dirty\` of \`/proc/PID/smaps_rollup\`): the pages only this VM's
  process holds and nothing can share or drop (heap, stacks, relocated library data, the guest's
  written RAM). The rest of VmRSS is clean pages of files, here the shared libraries: the page
  cache holds them once for every VM on the host, and the kernel maps more of them than a
  program touches (fault-around maps up to 16 neighbouring pages already in the cache).
- Where the VNC figure goes: libvncserver and what Debian links it with — GnuTLS, p11-kit,
  nettle, hogweed, gmp, libgcrypt, libgpg-error, libunistring, libtasn1, libidn2, libjpeg, liblzo2
  — are about 2.6 MiB of clean library pages; the VNC thread's stack, its malloc arena and the
  libraries' relocated data are most of the private part. Cut: GnuTLS initialised itself in its
  constructor at load time (loading p11-kit's trust modules, about 0.85 MiB resident, 0.15 MiB
  of it private); truce sets \`GNUTLS_NO_IMPLICIT_INIT=1\` around the \`dlopen\` (libvncserver
  initialises GnuTLS itself before a TLS WebSocket, which truce does not offer).
- The framebuffer (16 MiB by default) is a separate \`MAP_NORESERVE\` mapping: only the pages the
  guest draws become resident (a mode switch gives the old pages back with \`MADV_DONTNEED\`).
  libpng and libvncserver are loaded with \`dlopen\` only by a VM with a display. The server's
  two 640x480 screen buffers become resident when a client connects.
- An idle screen costs nothing on the wire: after the first full frame ($first bytes), a client
  asking for incremental updates every 100 ms for 5 s received $idle bytes (KVM's dirty log
  on the framebuffer slot finds no page written, so no rectangle is sent).
- QEMU \`-vga std -vnc\` side by side: \`bench/display.sh --lab\` (its own section).
<!-- bench/display.sh end -->
EOF
)
python3 - "$section" <<'EOF'
import re, sys
p = 'bench/RESULTS.md'
s = open(p).read()
new = sys.argv[1] + '\n'
pat = re.compile(r'<!-- bench/display.sh begin.*?<!-- bench/display.sh end -->\n', re.S)
s = pat.sub(lambda m: new, s) if pat.search(s) else s.rstrip('\n') + '\n\n' + new
open(p, 'w').write(s)
EOF
echo "$section"
