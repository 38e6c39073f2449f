#!/usr/bin/env bash
# run.sh — truced and trucectl for real on this host's /dev/kvm: tiny guests as VMs of the
# manager (create, list, start, pause/resume, snapshot/restore, graceful and forced stop), a VM's
# truce killed -9 (recorded as crashed, the others keep running), truced killed -9 and restarted
# (re-adopts the running VM, starts the autostart one), two operations on one VM (409), bad input
# (400 naming the field), admission, the TCP listener's bearer token. One PASS/FAIL line a case.
set -u
. "$(dirname "$0")/lib.sh"
mgr_init test
CG=truced-test-$$
TRUCED_ARGS=(--cgroup-parent "$CG" --overcommit-ratio 1.5)
mgr_extra_cleanup() { # the pids this script noted, and its cgroups
    for p in $(cat "$W"/pids 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    for f in /sys/fs/cgroup/*/"$CG"/*/cgroup.procs /sys/fs/cgroup/"$CG"/*/cgroup.procs; do
        [ -f "$f" ] && for p in $(cat "$f"); do kill -KILL "$p" 2>/dev/null; done # this run's VMs
    done
    sleep 0.2
    for d in /sys/fs/cgroup/*/"$CG"/* /sys/fs/cgroup/"$CG"/*; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
    for d in /sys/fs/cgroup/*/"$CG" /sys/fs/cgroup/"$CG"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
}
vmdef() { # vmdef FILE BOOT_ARGS [MEM]
    cat >"$1" <<JSON
{"boot-source": {"kernel_image_path": "$A", "boot_args": "$2"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": ${3:-32}},
 "serial": {"serial_out_path": "$W/$(basename "$1" .json).serial"}}
JSON
}

mgr_needs "$A"

# TCP is refused without a token, before anything else happens.
out=$("$TRUCED" --sock "$W/x.sock" --state-dir "$W/x" --listen 127.0.0.1:0 2>&1)
rc=$?
[ $rc = 2 ] && echo "$out" | grep -q -- "--token-file" && pass tcp-needs-token ||
    failc tcp-needs-token "status $rc: $out"

start_truced || { failc start "truced did not serve $S: $(cat "$W/truced.err")"; exit 0; }
vmdef "$W/a.json" spin
vmdef "$W/b.json" spin
vmdef "$W/c.json" echo
ok=1
ctl create "$W/a.json" >/dev/null || ok=0
ctl create "$W/b.json" --autostart >/dev/null || ok=0
ctl create "$W/c.json" >/dev/null || ok=0
[ $ok = 1 ] && [ "$(jget a state)" = defined ] && [ "$(jget b autostart)" = true ] &&
    pass create "3 VMs defined" || failc create "$(ctl list 2>&1)"

# Bad input: 400 and the field named; a taken name: 409.
bad() { # bad NAME BODY WANT-STATUS WANT-TEXT
    local st
    st=$(raw POST /v1/vms "$2")
    [ "$st" = "$3" ] && grep -q -- "$4" "$W/reply" && pass "bad-$1" "$st: $(cut -c1-80 "$W/reply")" ||
        failc "bad-$1" "got $st: $(cat "$W/reply"), want $3 naming $4"
}
K="\"boot-source\": {\"kernel_image_path\": \"$A\"}"
bad json '{"name": "x", ' 400 'invalid JSON'
bad name '{"name": "no/slash", "config": {}}' 400 '"name:'
bad field "{\"name\": \"x\", \"config\": {$K}, \"colour\": 1}" 400 'colour: unknown field'
bad kernel '{"name": "x", "config": {"boot-source": {}}}' 400 'config.boot-source.kernel_image_path'
bad mem "{\"name\": \"x\", \"config\": {$K, \"machine-config\": {\"mem_size_mib\": -4}}}" 400 'mem_size_mib'
bad autostart "{\"name\": \"x\", \"config\": {$K}, \"autostart\": \"yes\"}" 400 'autostart'
bad taken "{\"name\": \"a\", \"config\": {$K}}" 409 "name: a VM named 'a' exists"
st=$(raw POST /v1/vms/a/stop '{"timeout_ms": "soon"}')
[ "$st" = 400 ] && grep -q timeout_ms "$W/reply" && pass bad-stop-field ||
    failc bad-stop-field "$st $(cat "$W/reply")"

# Start two; both run, each in its own truce process (and cgroup when there is one).
ctl start a >/dev/null && ctl start b >/dev/null
pa=$(jget a pid) pb=$(jget b pid)
echo "$pa $pb" >"$W/pids"
if [ "$(jget a state)" = running ] && [ "$(jget b state)" = running ] && kill -0 "$pa" && kill -0 "$pb" &&
    [ "$pa" != "$pb" ] && ctl list | grep -q '^a .*running' && ctl list | grep -q '^b .*running'; then
    pass start-two "pids $pa $pb; cgroup $(jget a metrics.cgroup), cpu_usage_usec $(jget a metrics.cpu_usage_usec), rss $(jget a metrics.rss_bytes) B"
else
    failc start-two "$(ctl list 2>&1) $(tail -3 "$W/truced.err")"
fi
ctl list
oa=$(ctl get a --json | tests/manager/openapi_check.py Vm 2>&1 &&
    raw GET /v1/vms >/dev/null && tests/manager/openapi_check.py "GET /vms" <"$W/reply" 2>&1 &&
    raw GET /v1/vms/a/metrics >/dev/null && tests/manager/openapi_check.py Metrics <"$W/reply" 2>&1 &&
    raw GET /v1/events >/dev/null && tests/manager/openapi_check.py "GET /events" <"$W/reply" 2>&1 &&
    raw GET /v1/host >/dev/null && tests/manager/openapi_check.py "GET /host" <"$W/reply" 2>&1)
[ $? = 0 ] && pass openapi "a VM, the list, metrics, events and host answer as docs/truced-openapi.yaml says" ||
    failc openapi "$oa"

# Pause/resume: truced's record and truce's own state agree.
sa=$(jget a api_sock)
truce_state() { curl -s --unix-socket "$sa" http://l/ | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
ctl pause a >/dev/null
s1="$(jget a state)/$(truce_state)"
ctl resume a >/dev/null
s2="$(jget a state)/$(truce_state)"
[ "$s1" = paused/Paused ] && [ "$s2" = running/Running ] && pass pause-resume "$s1 -> $s2" ||
    failc pause-resume "$s1 -> $s2"
st=$(raw POST /v1/vms/a/resume)
[ "$st" = 409 ] && pass resume-running-409 || failc resume-running-409 "$st $(cat "$W/reply")"

# At most 64 connections at once: with 64 idle ones open the next is answered 503 (its request,
# sent 50 ms after the connect, is still taken: no broken pipe); closed, requests are served again.
cap=$(python3 - "$S" <<'PY'
import socket, sys
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); return s
def ask(s):
    s.sendall(b"GET /v1/host HTTP/1.1\r\nHost: l\r\n\r\n")
    return s.recv(64).split(b" ")[1].decode()
idle = [conn() for _ in range(64)]
late = conn()
import time
time.sleep(0.05)  # the server has answered and shut its side by now
over = ask(late)
for s in idle:
    s.close()
import time
for _ in range(100):  # the server notices the closes
    again = ask(conn())
    if again == "200":
        break
    time.sleep(0.05)
print(over, again)
PY
)
[ "$cap" = "503 200" ] && pass conn-cap "65th connection $(echo $cap | cut -d' ' -f1), after closing $(echo $cap | cut -d' ' -f2)" ||
    failc conn-cap "got '$cap'"

# Events: a long-poll returns the next state change once it happens; a bad query is a 400.
last=$(raw GET /v1/events >/dev/null && python3 -c 'import json,sys; print(json.load(sys.stdin)["events"][-1]["id"])' <"$W/reply")
curl -s --unix-socket "$S" "http://l/v1/events?since=$last&wait_ms=20000" >"$W/poll" &
cp=$!
ctl pause a >/dev/null
wait $cp
ctl resume a >/dev/null
st=$(raw GET '/v1/events?wait_ms=soon')
grep -q '"vm":"a","state":"paused"' "$W/poll" && [ "$st" = 400 ] && grep -q 'wait_ms' "$W/reply" &&
    pass events-longpoll "$(cut -c1-90 "$W/poll"); bad query $st" ||
    failc events-longpoll "$(cat "$W/poll"); bad query $st $(cat "$W/reply")"

# Snapshot a running VM into a directory; it keeps running.
ctl snapshot a "$W/snap-a" >/dev/null
[ -s "$W/snap-a/vmstate" ] && [ -f "$W/snap-a/mem" ] && [ "$(jget a state)" = running ] &&
    pass snapshot "$(du -k "$W/snap-a/mem" | cut -f1) KiB memory file" ||
    failc snapshot "$(ls -l "$W/snap-a" 2>&1) state $(jget a state)"

# kill -9 of a's truce: recorded as crashed with the reason; b keeps running.
kill -KILL "$pa"
if wait_state a crashed && [ "$(jget a exit_status)" = 137 ] && jget a reason | grep -q 'signal 9' &&
    kill -0 "$pb" && [ "$(jget b state)" = running ] &&
    curl -sf --unix-socket "$(jget b api_sock)" http://l/ >/dev/null; then
    pass crash-recorded "$(jget a reason); b still running"
else
    failc crash-recorded "a $(jget a state) $(jget a reason); b $(jget b state)"
fi

# Restore a from its snapshot: a new truce process, running.
ctl restore a "$W/snap-a" >/dev/null
pa=$(jget a pid)
echo "$pa $pb" >"$W/pids"
[ "$(jget a state)" = running ] && [ "$(jget a reason)" = restored ] && kill -0 "$pa" &&
    pass restore "pid $pa" || failc restore "$(jget a state) $(jget a reason) $(tail -2 "$W/state/vms/a/truce.log")"

# Forced stop of b (autostart): SIGTERM at once, truce's "stopped from the host".
ctl stop b --force >/dev/null
[ "$(jget b state)" = stopped ] && [ "$(jget b exit_status)" = 16 ] && ! kill -0 "$pb" 2>/dev/null &&
    pass stop-forced "$(jget b reason)" || failc stop-forced "$(jget b state) $(jget b reason)"

# kill -9 truced; a new one re-adopts a (same pid) and starts b (autostart).
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
DPID=
PORT=$((20000 + $$ % 20000))
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$W/token"
if start_truced --listen "127.0.0.1:$PORT" --token-file "$W/token"; then
    for _ in $(seq 100); do [ "$(jget b state)" = running ] && break; sleep 0.05; done
    pb=$(jget b pid)
    echo "$pa $pb" >"$W/pids"
    if [ "$(jget a state)" = running ] && [ "$(jget a pid)" = "$pa" ] && jget a reason | grep -q re-adopted &&
        [ "$(jget b state)" = running ] && kill -0 "$pb"; then
        pass restart-readopt "a re-adopted (pid $pa), b autostarted (pid $pb)"
    else
        failc restart-readopt "a $(jget a state) $(jget a pid)/$pa $(jget a reason); b $(jget b state)"
    fi
else
    failc restart-readopt "truced did not come back: $(tail -2 "$W/truced.err")"
fi

# The TCP listener: 401 without the token, 200 with it.
t1=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/vms")
t2=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong-token-xxxxxxxx" "http://127.0.0.1:$PORT/v1/vms")
n=$("$CTL" --addr "tcp:127.0.0.1:$PORT" --token-file "$W/token" list | grep -c running)
[ "$t1" = 401 ] && [ "$t2" = 401 ] && [ "$n" = 2 ] && pass tcp-token "no token $t1, wrong $t2, trucectl over TCP lists $n running" ||
    failc tcp-token "no token $t1, wrong $t2, listed $n running"

# Two operations on one VM: while a graceful stop of c waits (the echo guest polls with
# interrupts off, so Ctrl-Alt-Del goes unanswered), pause and delete get 409; the stop then
# falls back to SIGTERM and completes.
ctl start c >/dev/null
pc=$(jget c pid)
echo "$pa $pb $pc" >"$W/pids"
ctl stop c --timeout 4000 >"$W/stop-c.out" 2>&1 &
sp=$!
wait_state c stopping
s1=$(raw POST /v1/vms/c/pause)
s2=$(raw DELETE /v1/vms/c)
wait $sp
[ "$s1" = 409 ] && [ "$s2" = 409 ] && [ "$(jget c state)" = stopped ] && grep -q 'timed out' "$W/stop-c.out" &&
    pass busy-409 "pause $s1, delete $s2 during the stop; then $(jget c reason)" ||
    failc busy-409 "pause $s1, delete $s2; c $(jget c state); $(cat "$W/stop-c.out")"

# truced killed -9 in the middle of an operation (a graceful stop waiting on c): the VM is not
# lost; the next truced re-adopts it running, and it can be stopped.
ctl start c >/dev/null
pc=$(jget c pid)
echo "$pa $pb $pc" >"$W/pids"
ctl stop c --timeout 8000 >/dev/null 2>&1 &
sp=$!
wait_state c stopping
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
wait $sp
DPID=
start_truced
s1="$(jget c state)/$(jget c desired)/$(jget c pid)"
ctl stop c --force >/dev/null
s2=$(jget c state)
[ "$s1" = "running/running/$pc" ] && [ "$s2" = stopped ] && ! kill -0 "$pc" 2>/dev/null &&
    pass crash-mid-stop "re-adopted $s1, then $s2" || failc crash-mid-stop "after restart $s1 (pid was $pc), then $s2"

# Graceful stop of a: Ctrl-Alt-Del ends the tiny guest by itself (it has no IDT: triple fault).
ctl stop a --timeout 5000 >"$W/stop-a.out"
[ "$(jget a state)" = stopped ] && grep -q '"graceful (Ctrl-Alt-Del)"' "$W/stop-a.out" &&
    pass stop-graceful "$(jget a reason)" || failc stop-graceful "$(jget a state) $(cat "$W/stop-a.out")"
ctl stop b --force >/dev/null

# Admission: a VM over the overcommit ratio of host memory is refused, nothing started.
big=$(($(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) * 2))
vmdef "$W/big.json" spin "$big"
ctl create "$W/big.json" >/dev/null
st=$(raw POST /v1/vms/big/start)
[ "$st" = 409 ] && grep -q 'admission.*--overcommit-ratio' "$W/reply" && [ "$(jget big state)" = defined ] &&
    pass admission "$big MiB refused: $(cut -c1-100 "$W/reply")" || failc admission "$st $(cat "$W/reply")"

# cgroup v2 limits from the definition: checked at create (400 naming the field), shown by GET,
# written into the VM's cgroup at start, read back in the metrics; where the host's cgroup v2
# parent lacks a controller (this build host's hybrid hierarchy offers none), the start is a 409
# naming the limit and nothing runs.
LIM="\"config\": {$K, \"machine-config\": {\"mem_size_mib\": 32}}"
bad limits-type "{\"name\": \"l\", $LIM, \"limits\": {\"cpus\": \"half\"}}" 400 'limits.cpus'
bad limits-memory "{\"name\": \"l\", $LIM, \"limits\": {\"memory_max_mib\": 16}}" 400 'below the guest'
bad limits-field "{\"name\": \"l\", $LIM, \"limits\": {\"swap\": 1}}" 400 'limits.swap: unknown field'
vmdef "$W/lim.json" spin
st=$(raw POST /v1/vms "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps({"name": "lim", "config": d, "limits": {"cpus": 0.5, "memory_max_mib": 64, "io_weight": 200}}))' "$W/lim.json")")
shown=$(ctl get lim --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["limits"], sort_keys=True))')
cgp=$(raw GET /v1/host >/dev/null && python3 -c 'import json,sys; print(json.load(sys.stdin)["cgroup_parent"])' <"$W/reply")
ctls=$(cat "$cgp/cgroup.subtree_control" 2>/dev/null)
st2=$(raw POST /v1/vms/lim/start)
if [ "$st" = 201 ] && [ "$shown" = '{"cpus": 0.5, "io_weight": 200, "memory_max_mib": 64}' ]; then
    if echo "$ctls" | grep -qw cpu && echo "$ctls" | grep -qw memory && echo "$ctls" | grep -qw io; then
        cm=$(jget lim metrics.cpu_max) mm=$(jget lim metrics.memory_max_bytes) iw=$(jget lim metrics.io_weight)
        [ "$st2" = 200 ] && [ "$cm" = "50000 100000" ] && [ "$mm" = 67108864 ] && [ "$iw" = 200 ] &&
            pass limits "applied: cpu.max $cm, memory.max $mm, io.weight $iw" ||
            failc limits "start $st2 $(cat "$W/reply"); cpu.max '$cm' memory.max '$mm' io.weight '$iw'"
        ctl stop lim --force >/dev/null
    else
        [ "$st2" = 409 ] && grep -q 'limits.cpus: the cpu controller is not enabled' "$W/reply" &&
            [ "$(jget lim state)" = defined ] &&
            pass limits "shown $shown; controllers here '$ctls': start $st2 $(cut -c1-90 "$W/reply")" ||
            failc limits "controllers '$ctls': start $st2 $(cat "$W/reply"); state $(jget lim state)"
    fi
else
    failc limits "create $st, shown '$shown'"
fi
raw DELETE /v1/vms/lim >/dev/null

# Delete, events.
st=$(raw DELETE /v1/vms/big)
st2=$(raw GET /v1/vms/big)
[ "$st" = 204 ] && [ "$st2" = 404 ] && [ ! -e "$W/state/vms/big" ] && pass delete || failc delete "$st $st2"
ev=$(ctl events)
echo "$ev" | grep -q ' a .*crashed .*signal 9' && echo "$ev" | grep -q ' b .*running' &&
    pass events "$(echo "$ev" | wc -l) state changes" || failc events "$ev"
ctl list

# Under `truce jail`: a second truced runs its VM as nobody in a chroot; killed -9 and
# restarted, it re-adopts the jailed VM (the jail's pid file names it); delete cleans the jail.
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
DPID=
S=$W/j.sock
STATE=$W/state-jail # its own VMs only
vmdef "$W/j.json" spin
if start_truced --jail-uid 65534 --jail-gid 65534 && ctl create "$W/j.json" >/dev/null &&
    ctl start j >/dev/null; then
    pj=$(jget j pid)
    echo "$pj" >>"$W/pids"
    ids=$(awk '/^(Uid|Gid|NoNewPrivs):/ {printf "%s %s ", $1, $2}' "/proc/$pj/status")
    kill -KILL "$DPID"
    wait "$DPID" 2>/dev/null
    start_truced --jail-uid 65534 --jail-gid 65534
    s1="$(jget j state) $(jget j pid)"
    st=$(raw POST /v1/vms/j/snapshot "{\"dir\": \"$W/snap-j\"}")
    ctl stop j --force >/dev/null
    ctl delete j >/dev/null
    if [ "$ids" = "Uid: 65534 Gid: 65534 NoNewPrivs: 1 " ] && [ "$s1" = "running $pj" ] &&
        [ "$st" = 409 ] && ! kill -0 "$pj" 2>/dev/null && [ -z "$(ls -A "$STATE/jail/truce" 2>/dev/null)" ]; then
        pass jail "$ids; re-adopted after kill -9 of truced; snapshot $st (not yet under the jail)"
    else
        failc jail "ids '$ids'; after restart '$s1' (pid $pj); snapshot $st; left: $(ls -A "$STATE/jail/truce" 2>&1)"
    fi
else
    failc jail "truced --jail-uid did not start the VM: $(tail -2 "$W/truced.err") $(tail -2 "$STATE/vms/j/truce.log" 2>/dev/null)"
fi

# The WebSocket endpoints (console, VNC proxy), screenshots, truced killed at every step of every
# operation (crash.sh), and the web console in a browser: each with its own truced.
kill -KILL "$DPID" 2>/dev/null
"$ROOT/tests/manager/console.sh"
"$ROOT/tests/manager/migrate.sh"
"$ROOT/tests/manager/crash.sh"
[ -x "$ROOT/tests/manager/web.sh" ] && "$ROOT/tests/manager/web.sh"
exit 0
