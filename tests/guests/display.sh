#!/usr/bin/env bash
# display.sh — the std VGA display and its VNC server with tiny guests: a guest sets a VBE mode
# through the ports (or the MMIO BAR) and draws four coloured quadrants; the test reads the
# screen through the API (truce screenshot) and through VNC (tests/tools/vnctool, Debian's
# libvncclient) and checks the colours; passwords, hostile clients, bad flags, and what a VM
# without a display maps. One PASS/FAIL line per check.
set -u
cd "$(dirname "$0")/../.."
. tests/wait.sh
TRUCE=${TRUCE:-build/truce}
G=build/guests
VNCTOOL=build/tools/vnctool
OUT=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$OUT"
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# quadrants FILE: the colours at the centre of each quadrant of a 320x200 PNG or PPM image.
quadrants() {
    python3 - "$1" <<'EOF'
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
if d[:8] == b'\x89PNG\r\n\x1a\n':
    w, h = struct.unpack('>II', d[16:24])
    z, o = b'', 8
    while o < len(d):
        n = struct.unpack('>I', d[o:o + 4])[0]
        if d[o + 4:o + 8] == b'IDAT':
            z += d[o + 8:o + 8 + n]
        o += 12 + n
    raw, rows, stride = zlib.decompress(z), [], 3 * w
    prev = bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - 3] if x >= 3 else 0
            b, c = prev[x], (prev[x - 3] if x >= 3 else 0)
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line)); prev = line
    px = lambda x, y: rows[y][3 * x:3 * x + 3].hex()
else:  # P6
    parts = d.split(b'\n', 3)
    w, h = map(int, parts[1].split())
    body = parts[3]
    px = lambda x, y: body[3 * (y * w + x):3 * (y * w + x) + 3].hex()
print('%dx%d' % (w, h), px(80, 50), px(240, 50), px(80, 150), px(240, 150))
EOF
}
WANT="320x200 ff0000 00ff00 0000ff ffffff"

# wait_serial FILE PATTERN: until the guest printed PATTERN (60 s at most).
wait_serial() {
    for _ in $(seq 120); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.5; done
    return 1
}

# ---- through the API: PUT /display, then truce screenshot ---------------------------------
api_case() { # api_case NAME CMDLINE
    local name=$1 S="$OUT/$1.sock" ser="$OUT/$1.serial"
    "$TRUCE" --api-sock "$S" 2>"$OUT/$name.err" &
    local pid=$!
    PIDS+=($pid)
    wait_sock "$S"
    local c="curl -s --unix-socket $S -o /dev/null -w %{http_code} -X PUT"
    local r1 r2 r3 r4
    r1=$($c http://localhost/boot-source \
        -d "{\"kernel_image_path\": \"$G/display.elf\", \"boot_args\": \"$2\"}")
    r2=$($c http://localhost/display -d '{"kind": "std", "vram_mib": 8}')
    r3=$($c http://localhost/serial -d "{\"serial_out_path\": \"$ser\"}")
    r4=$($c http://localhost/actions -d '{"action_type": "InstanceStart"}')
    if [ "$r1$r2$r3$r4" != 204204204204 ]; then
        fail "$name" "configuration answered $r1 $r2 $r3 $r4"
    elif ! wait_serial "$ser" drawn; then
        fail "$name" "the guest did not draw: $(tr '\n' '|' <"$ser")"
    elif ! "$TRUCE" screenshot --api-sock "$S" -o "$OUT/$name.png" 2>"$OUT/$name.shot"; then
        fail "$name" "truce screenshot: $(cat "$OUT/$name.shot")"
    elif [ "$(quadrants "$OUT/$name.png")" != "$WANT" ]; then
        fail "$name" "screenshot shows $(quadrants "$OUT/$name.png"), want $WANT"
    elif ! grep -q "vram 8 MiB, max 4096x2160x32" "$ser" || ! grep -q "4096x2160x32 refused" "$ser"; then
        fail "$name" "guest saw: $(tr '\n' '|' <"$ser")"
    else
        pass "$name"
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
api_case display-api-screenshot-ports ""
api_case display-api-screenshot-mmio "mmio"

# ---- a snapshot keeps the screen: registers and framebuffer restored in a new process (with the
# virtio keyboard and tablet of input=virtio: their functions and state go along) ---------------
snap_case() {
    local S="$OUT/snapa.sock" S2="$OUT/snapb.sock" ser="$OUT/snap.serial" c r
    "$TRUCE" --api-sock "$S" >/dev/null 2>"$OUT/snapa.err" &
    local pa=$!
    PIDS+=($pa)
    wait_sock "$S"
    c="curl -s -o /dev/null -w %{http_code} -X"
    r=$($c PUT --unix-socket "$S" http://localhost/boot-source -d "{\"kernel_image_path\": \"$G/display.elf\"}")
    r="$r $($c PUT --unix-socket "$S" http://localhost/display -d '{"kind": "std", "input": "virtio"}')"
    r="$r $($c PUT --unix-socket "$S" http://localhost/serial -d "{\"serial_out_path\": \"$ser\"}")"
    r="$r $($c PUT --unix-socket "$S" http://localhost/actions -d '{"action_type": "InstanceStart"}')"
    wait_serial "$ser" drawn
    r="$r $($c PATCH --unix-socket "$S" http://localhost/vm -d '{"state": "Paused"}')"
    r="$r $($c PUT --unix-socket "$S" http://localhost/snapshot/create \
        -d "{\"snapshot_path\": \"$OUT/vm.state\", \"mem_file_path\": \"$OUT/vm.mem\"}")"
    kill $pa 2>/dev/null
    wait $pa 2>/dev/null
    "$TRUCE" --api-sock "$S2" >/dev/null 2>"$OUT/snapb.err" &
    local pb=$!
    PIDS+=($pb)
    wait_sock "$S2"
    r="$r $($c PUT --unix-socket "$S2" http://localhost/snapshot/load -d "{\"snapshot_path\": \
\"$OUT/vm.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$OUT/vm.mem\"}, \
\"resume_vm\": true}")"
    if [ "$r" != "204 204 204 204 204 204 204" ]; then
        fail display-snapshot-restore "answers $r: $(tail -n1 "$OUT/snapb.err")"
    elif ! "$TRUCE" screenshot --api-sock "$S2" -o "$OUT/snap.png" 2>"$OUT/snap.shot"; then
        fail display-snapshot-restore "$(cat "$OUT/snap.shot") $(tail -n1 "$OUT/snapb.err")"
    elif [ "$(quadrants "$OUT/snap.png")" != "$WANT" ]; then
        fail display-snapshot-restore "restored screen shows $(quadrants "$OUT/snap.png")"
    else
        pass display-snapshot-restore
    fi
    kill $pb 2>/dev/null
    wait $pb 2>/dev/null
}
snap_case

# ---- through VNC ------------------------------------------------------------------------------
if [ -x "$VNCTOOL" ]; then
    printf 'sesame\n' >"$OUT/pw"
    V="$OUT/vnc.sock"
    ser="$OUT/vnc.serial"
    "$TRUCE" run --kernel $G/display.elf --display "vnc=unix:$V,password=$OUT/pw" \
        --console "file:$ser" 2>"$OUT/vnc.err" </dev/null &
    vpid=$!
    PIDS+=($vpid)
    if ! wait_serial "$ser" drawn; then
        fail display-vnc-unix "the guest did not draw: $(tail -n1 "$OUT/vnc.err")"
    else
        if $VNCTOOL "$V" -p sesame snap "$OUT/vnc.ppm" 2>"$OUT/vnctool.err" &&
            [ "$(quadrants "$OUT/vnc.ppm")" = "$WANT" ]; then
            pass display-vnc-unix-password
        else
            fail display-vnc-unix-password "$(cat "$OUT/vnctool.err") $(quadrants "$OUT/vnc.ppm" 2>&1)"
        fi
        if $VNCTOOL "$V" -p wrong snap "$OUT/bad.ppm" 2>/dev/null; then
            fail display-vnc-wrong-password "a wrong password was accepted"
        else
            pass display-vnc-wrong-password
        fi
        # hostile clients: garbage after the version, a close mid-handshake, a client that
        # leaves in the middle of a frame; the VM and the server keep going
        python3 - "$V" <<'EOF'
import os, socket, sys
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); return s
s = conn(); s.recv(12); s.send(os.urandom(4096)); s.close()
s = conn(); s.close()
s = conn(); s.recv(12); s.send(b'RFB 003.008\n'); s.close()
s = conn(); s.recv(12); s.send(b'RFB 003.008\n' + bytes([2])); s.close()
EOF
        $VNCTOOL "$V" -p sesame type "typed keys reach nothing here, é has no PC key
" 2>/dev/null
        $VNCTOOL "$V" -p sesame move 7 -3 30 2>/dev/null
        if kill -0 $vpid 2>/dev/null && $VNCTOOL "$V" -p sesame snap "$OUT/vnc2.ppm" &&
            [ "$(quadrants "$OUT/vnc2.ppm")" = "$WANT" ]; then
            pass display-vnc-hostile-clients
        else
            fail display-vnc-hostile-clients "server or VM gone: $(tail -n2 "$OUT/vnc.err")"
        fi
    fi
    kill $vpid 2>/dev/null
    wait $vpid 2>/dev/null
    st=$?
    [ $st = 16 ] && pass display-vnc-stops || fail display-vnc-stops "status $st: $(tail -n1 "$OUT/vnc.err")"
    # é (UTF-8 0xc3 0xa9, two keysyms) pressed and released: 4 events without a PC key, counted
    grep -q 'vnc: 4 key events had no PC key, [0-9]* were dropped' "$OUT/vnc.err" &&
        pass display-vnc-unmapped-keys ||
        fail display-vnc-unmapped-keys "$(grep 'key events' "$OUT/vnc.err" || echo 'no key count logged')"
    [ ! -e "$V" ] && pass display-vnc-socket-removed || fail display-vnc-socket-removed "$V left behind"

    # a client of a VM that draws nothing: a blank 640x480 screen, the VM unharmed
    rm -f "$OUT/blank.serial"
    "$TRUCE" run --kernel $G/actions.elf --cmdline spin --display "vnc=unix:$OUT/blank.sock" \
        --console "file:$OUT/blank.serial" 2>"$OUT/blank.err" </dev/null &
    bpid=$!
    PIDS+=($bpid)
    wait_serial "$OUT/blank.serial" spin
    if $VNCTOOL "$OUT/blank.sock" snap "$OUT/blank.ppm" 2>"$OUT/blank.tool" &&
        [ "$(sed -n 2p "$OUT/blank.ppm")" = "640 480" ] &&
        [ "$(tail -c 921600 "$OUT/blank.ppm" | tr -d '\000' | wc -c)" = 0 ] && kill -0 $bpid; then
        pass display-vnc-blank-screen
    else
        fail display-vnc-blank-screen "$(cat "$OUT/blank.tool") $(tail -n1 "$OUT/blank.err")"
    fi
    kill $bpid 2>/dev/null
    wait $bpid 2>/dev/null

    PORT=$((20000 + RANDOM % 20000))
    rm -f "$OUT/tcp.serial"
    "$TRUCE" run --kernel $G/display.elf --display "vnc=127.0.0.1:$PORT" --console "file:$OUT/tcp.serial" \
        2>"$OUT/tcp.err" </dev/null &
    tpid=$!
    PIDS+=($tpid)
    if wait_serial "$OUT/tcp.serial" drawn && $VNCTOOL "127.0.0.1:$PORT" snap "$OUT/tcp.ppm" &&
        [ "$(quadrants "$OUT/tcp.ppm")" = "$WANT" ]; then
        pass display-vnc-tcp
    else
        fail display-vnc-tcp "$(tail -n1 "$OUT/tcp.err")"
    fi
    kill $tpid 2>/dev/null
    wait $tpid 2>/dev/null
else
    fail display-vnc "$VNCTOOL missing (make guests; apt-get install libvncserver-dev)"
fi

# ---- SeaBIOS with Debian's VGA BIOS: a boot sector writes a line through INT 10h -------------
if [ -x "$VNCTOOL" ] && [ -f /usr/share/seabios/vgabios-stdvga.bin ]; then
    V="$OUT/sb.sock"
    "$TRUCE" run --firmware seabios --memory 64M --disk "path=$G/vgaboot.img,readonly=on" \
        --display "vnc=unix:$V" --console "file:$OUT/sb.serial" 2>"$OUT/sb.err" </dev/null &
    spid=$!
    PIDS+=($spid)
    if wait_serial "$OUT/sb.serial" "TRUCE VGA TEXT 0123456789" &&
        $VNCTOOL "$V" snap "$OUT/sb.ppm" 2>"$OUT/sb.tool"; then
        got=$(python3 - "$OUT/sb.ppm" <<'EOF'
import sys
d = open(sys.argv[1], 'rb').read()
parts = d.split(b'\n', 3)
w, h = map(int, parts[1].split())
px = lambda x, y: parts[3][3 * (y * w + x):3 * (y * w + x) + 3].hex()
# 80x25 text of 9x16 cells: row 2 holds the line from column 4; the rest is the blue background
band = sum(px(x, y) == 'ffffff' for y in range(32, 48) for x in range(36, 36 + 25 * 9))
below = sum(px(x, y) == 'ffffff' for y in range(80, h, 2) for x in range(0, w, 2))
print('%dx%d bg %s band %s below %d' % (w, h, px(700, 300), 'lit' if band > 200 else band, below))
EOF
)
        [ "$got" = "720x400 bg 0000aa band lit below 0" ] && pass display-seabios-text ||
            fail display-seabios-text "$got"
    else
        fail display-seabios-text "no text: $(tail -n1 "$OUT/sb.err") $(cat "$OUT/sb.tool" 2>/dev/null)"
    fi
    kill $spid 2>/dev/null
    wait $spid 2>/dev/null
fi

# ---- bad input: one line, status 2 ---------------------------------------------------------
bad() { # bad NAME PATTERN -- truce args
    local name=$1 pattern=$2
    shift 3
    timeout 30 "$TRUCE" "$@" </dev/null >/dev/null 2>"$OUT/$name.err"
    local st=$?
    if [ $st != 2 ] || [ "$(wc -l <"$OUT/$name.err")" != 1 ] || ! grep -Eq -- "$pattern" "$OUT/$name.err"; then
        fail "$name" "status $st: $(head -c 300 "$OUT/$name.err")"
    else
        pass "$name"
    fi
}
K="run --kernel $G/display.elf --console none"
bad display-bad-vram 'vram=3' -- $K --display std,vram=3
bad display-bad-kind "starts with none, std or vnc" -- $K --display vga
bad display-bad-address "not a numeric IPv4 address" -- $K --display vnc=localhost:5900
bad display-bad-port "port must be a number" -- $K --display vnc=:99999
bad display-bad-password-file "password=/nonexistent" -- $K --display vnc=:5999,password=/nonexistent
bad display-password-without-vnc "password= needs vnc=" -- $K --display std,password=/etc/hostname
bad display-bad-input "input=usb: expected ps2 or virtio" -- $K --display std,input=usb
bad display-input-without-display "input= needs std or vnc=" -- $K --display none,input=virtio
S2="$OUT/nodisp.sock"
"$TRUCE" run --kernel $G/actions.elf --cmdline spin --console none 2>/dev/null &
p=$!
PIDS+=($p)
sleep 1
n=$(grep -cE 'libpng|libvncserver' "/proc/$p/maps" 2>/dev/null)
kill $p
wait $p 2>/dev/null
[ "${n:-1}" = 0 ] && pass display-none-maps-nothing || fail display-none-maps-nothing "$n mappings"
# the API: a bad body, and a screenshot of a VM without a display
"$TRUCE" --api-sock "$S2" >/dev/null 2>&1 &
p=$!
PIDS+=($p)
wait_sock "$S2"
body=$(curl -s --unix-socket "$S2" -X PUT http://localhost/display -d '{"kind": "vnc"}')
grep -q '"fault_message":"vnc: required' <<<"$body" && pass display-api-bad-body ||
    fail display-api-bad-body "$body"
body=$(curl -s --unix-socket "$S2" -X PUT http://localhost/display -d '{"kind": "std", "input": "usb"}')
grep -q '"fault_message":"input: ' <<<"$body" && pass display-api-bad-input ||
    fail display-api-bad-input "$body"
curl -s --unix-socket "$S2" -X PUT http://localhost/boot-source \
    -d "{\"kernel_image_path\": \"$G/actions.elf\", \"boot_args\": \"spin\"}" >/dev/null
curl -s --unix-socket "$S2" -X PUT http://localhost/actions -d '{"action_type": "InstanceStart"}' >/dev/null
"$TRUCE" screenshot --api-sock "$S2" -o "$OUT/none.png" 2>"$OUT/none.err"
st=$?
if [ $st = 2 ] && grep -q "has no display" "$OUT/none.err" && [ ! -e "$OUT/none.png" ]; then
    pass display-screenshot-without-display
else
    fail display-screenshot-without-display "status $st: $(cat "$OUT/none.err")"
fi
kill $p
wait $p 2>/dev/null
