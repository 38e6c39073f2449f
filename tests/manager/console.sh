#!/usr/bin/env bash
# console.sh — truced's WebSocket endpoints for real: a tiny guest's serial console through
# GET /v1/vms/NAME/console (a command typed, the guest's answer read), `trucectl console`, one
# client at a time (409), Ctrl-A reaching the guest as itself, hostile clients (ws_hostile.py),
# the console after truced is killed -9 and restarted, the end of the VM closing the socket, the
# bearer token as a subprotocol on TCP, and a VM's screen: the VNC proxy (the RFB greeting through
# the WebSocket) and GET /v1/vms/NAME/screenshot. One PASS/FAIL line a case.
set -u
. "$(dirname "$0")/lib.sh"
mgr_init console
TRUCED_ARGS=(--cgroup-parent "")
MGR_CASE=console mgr_needs "$A" "$D"
start_truced || { failc console-start "truced did not serve $S: $(cat "$W/truced.err")"; exit 0; }
cat >"$W/sh.json" <<JSON
{"boot-source": {"kernel_image_path": "$A", "boot_args": "shell"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}}
JSON
cat >"$W/f.json" <<JSON
{"boot-source": {"kernel_image_path": "$A", "boot_args": "spin"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
 "serial": {"serial_out_path": "$W/f.serial"}}
JSON
ctl create "$W/sh.json" >/dev/null && ctl create "$W/f.json" >/dev/null && ctl start sh >/dev/null &&
    ctl start f >/dev/null || { failc console-start "$(ctl list 2>&1)"; exit 0; }

# Type a command, read the guest's answer (its own line, after the echoed command).
out=$(py '
c = wsc.open_console(ADDR, "sh")
c.read_until(rb"\$ ")
c.send(b"echo hello\r")
print(repr(c.read_until(rb"\nhello\r?\n")))' 2>&1)
echo "$out" | grep -q 'echo hello' && pass console-echo "guest answered: $(echo "$out" | tail -c 60)" ||
    failc console-echo "$out"

# trucectl console: stdin to the guest, the answer on stdout.
out=$(printf 'echo from-trucectl\r' | ctl console sh --timeout 2000 2>"$W/ctl.err")
echo "$out" | grep -q '^from-trucectl' && pass trucectl-console "$(echo "$out" | grep -c .) lines" ||
    failc trucectl-console "out '$out' err $(cat "$W/ctl.err")"

# One client at a time: a second attach is refused with 409 while the first holds it.
out=$(py '
import subprocess
c = wsc.open_console(ADDR, "sh")
r = subprocess.run(["'"$CTL"'", "--sock", ADDR, "console", "sh"], stdin=subprocess.DEVNULL,
                   capture_output=True, text=True)
print(r.returncode, r.stderr.strip())' 2>&1)
echo "$out" | grep -q '^1 trucectl: 409: .*attached by another client' && pass console-one-client "$out" ||
    failc console-one-client "$out"

# Ctrl-A x is truce's escape on its own stdio: through truced it reaches the guest as typed and
# the VM keeps running.
out=$(py '
c = wsc.open_console(ADDR, "sh")
c.send(b"\x01x\r")
print(repr(c.read_until(rb"\x01x")))' 2>&1)
[ "$(jget sh state)" = running ] && echo "$out" | grep -q 'x01x' && pass console-ctrl-a "guest echoed Ctrl-A x; VM running" ||
    failc console-ctrl-a "$out; state $(jget sh state)"

# Wrong requests: a file serial, a plain GET, a VM that is not there, a stopped VM.
s1=$(py 's, st, h, r = wsc.handshake(ADDR, "/v1/vms/f/console"); print(st, r.decode())')
s2=$(raw GET /v1/vms/sh/console)
s3=$(py 's, st, h, r = wsc.handshake(ADDR, "/v1/vms/nosuch/console"); print(st)')
s4=$(py 's, st, h, r = wsc.handshake(ADDR, "/v1/vms/f/vnc"); print(st, r.decode())')
ctl stop f --force >/dev/null
s5=$(py 's, st, h, r = wsc.handshake(ADDR, "/v1/vms/f/console"); print(st)')
if echo "$s1" | grep -q '^409 .*serial_out_path' && [ "$s2" = 400 ] && [ "$s3" = 404 ] &&
    echo "$s4" | grep -q '^409 .*display.vnc' && [ "$s5" = 409 ]; then
    pass console-refusals "file serial 409, plain GET $s2, unknown 404, no VNC 409, stopped 409"
else
    failc console-refusals "file '$s1', plain $s2, unknown $s3, vnc '$s4', stopped $s5"
fi

# Hostile clients.
python3 tests/manager/ws_hostile.py "$S" sh

# kill -9 truced; the next one re-adopts the VM and its console still answers.
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
DPID=
start_truced
out=$(py '
c = wsc.open_console(ADDR, "sh")
c.send(b"echo after-restart\r")
print(repr(c.read_until(rb"\nafter-restart\r?\n")))' 2>&1)
echo "$out" | grep -q after-restart && pass console-readopted "the console of a re-adopted VM answers" ||
    failc console-readopted "$out"

# The VM ends while attached: the client gets close 1001.
out=$(py '
c = wsc.open_console(ADDR, "sh")
c.send(b"exit\r")
print(c.close_code(15))' 2>&1)
for _ in $(seq 100); do [ "$(jget sh state)" = running ] || break; sleep 0.05; done
[ "$out" = 1001 ] && pass console-vm-ends "close $out; VM $(jget sh state), exit $(jget sh exit_status)" ||
    failc console-vm-ends "close '$out'; VM $(jget sh state)"

# TCP: a browser cannot set Authorization on a WebSocket, so the token rides as the
# subprotocol "bearer.TOKEN" next to "binary"; without it, 401.
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
PORT=$((20000 + ($$ + 7) % 20000))
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$W/token"
start_truced --listen "127.0.0.1:$PORT" --token-file "$W/token"
ctl start sh >/dev/null
out=$(py '
t = open("'"$W/token"'").read().strip()
s, st1, h1, r = wsc.handshake("tcp:127.0.0.1:'$PORT'", "/v1/vms/sh/console")
s, st2, h2, r = wsc.handshake("tcp:127.0.0.1:'$PORT'", "/v1/vms/sh/console",
                              {"Sec-WebSocket-Protocol": "binary, bearer." + t})
c = wsc.Conn(s, r)
c.send(b"echo over-tcp\r")
c.read_until(rb"\nover-tcp\r?\n")
print(st1, st2, "Sec-WebSocket-Protocol: binary" in h2)' 2>&1)
[ "$out" = "401 101 True" ] && pass console-tcp-token "no token 401; bearer subprotocol 101, answered" ||
    failc console-tcp-token "$out"
ctl stop sh --force >/dev/null

# The screen: a guest drawing four quadrants with a VNC server on a UNIX socket.
cat >"$W/d.json" <<JSON
{"boot-source": {"kernel_image_path": "$D"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
 "serial": {"serial_out_path": "$W/d.serial"},
 "display": {"kind": "vnc", "vnc": "unix:$W/vnc.sock"}}
JSON
ctl create "$W/d.json" >/dev/null && ctl start d >/dev/null
for _ in $(seq 100); do grep -q 'drawn' "$W/d.serial" 2>/dev/null && break; sleep 0.1; done
out=$(py '
c = wsc.open_console(ADDR, "d", "vnc", {"Sec-WebSocket-Protocol": "binary"})
op, p = c.recv()
c.send(p)  # the version back: the server then offers its security types
op2, q = c.recv()
print(op, p.decode().strip(), len(q) > 0)' 2>&1)
st=$(curl -s -o "$W/shot.png" -w '%{http_code}' --unix-socket "$S" http://l/v1/vms/d/screenshot)
ctl screenshot d "$W/shot2.png"
dims=$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(); print(d[:8]==b"\x89PNG\r\n\x1a\n", "%dx%d" % struct.unpack(">II", d[16:24]))' "$W/shot.png" 2>&1)
[ "$out" = "2 RFB 003.008 True" ] && pass vnc-proxy "RFB greeting through the WebSocket, security types offered" ||
    failc vnc-proxy "$out $(tail -2 "$STATE/vms/d/truce.log")"
out=$(python3 tests/manager/vnc_coalesced.py "$S" d 2>&1)
[ "$out" = "OK 320x200 ff0000" ] &&
    pass vnc-proxy-coalesced "three RFB messages in one write all reached the server; pixel (80,50) ff0000" ||
    failc vnc-proxy-coalesced "$out"
[ "$st" = 200 ] && [ "$dims" = "True 320x200" ] && cmp -s "$W/shot.png" "$W/shot2.png" &&
    pass screenshot "PNG $dims, $(stat -c %s "$W/shot.png") bytes; trucectl screenshot the same" ||
    failc screenshot "$st $dims"
ctl stop d --force >/dev/null
exit 0
