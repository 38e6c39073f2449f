#!/usr/bin/env bash
# crash.sh — truced killed (SIGKILL) at every step of every operation it performs on a VM: create,
# start, graceful and forced stop, pause, resume, snapshot, restore, delete. truced's
# TRUCED_CRASH_AT=STEP (src/manager/mgr.h) makes it kill itself exactly at the named point; a new
# truced on the same --state-dir must then show every VM running (truce alive, its API answering
# the same state) or stopped (no process), its definition intact, nothing "starting"/"stopping"
# after 5 s, no orphan process, a bystander VM still running as the same pid, and the next
# operation on the VM must work. A few cases kill truced from outside at fixed delays instead,
# wherever that lands. One PASS/FAIL line a case.
set -u
. "$(dirname "$0")/lib.sh"
MGR_PREFIX=manager-crash-
mgr_init crash
DEFS=$W/defs
TRUCED_ARGS=(--cgroup-parent "")
CHECK=$ROOT/tests/manager/crash_check.py
# start_truced_at [STEP]: a truced on the state dir, killing itself at STEP when one is given
start_truced_at() {
    : >"$W/truced.err"
    if [ -n "${1:-}" ]; then
        TRUCED_CRASH_AT=$1 start_truced
    else
        start_truced
    fi
    local rc=$?
    disown "$DPID" # its SIGKILL is the test, not news for bash to print
    return $rc
}
gone_truced() { # up to 5 s for truced to end (bash reaps it)
    for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || return 0; sleep 0.05; done
    return 1
}
kill_truced() {
    kill -KILL "$DPID" 2>/dev/null
    gone_truced
    DPID=
}
vmdef() { # vmdef NAME: its definition in $DEFS/NAME.json
    cat >"$DEFS/$1.json" <<JSON
{"boot-source": {"kernel_image_path": "$A", "boot_args": "spin"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
 "serial": {"serial_out_path": "$W/$1.serial"}}
JSON
}
create_body() { jq -c -n --arg n "$1" --slurpfile c "$DEFS/$1.json" '{name: $n, config: $c[0]}'; }

# The state each operation starts from.
prep_absent() { vmdef "$1"; }
prep_defined() { vmdef "$1" && [ "$(raw POST /v1/vms "$(create_body "$1")")" = 201 ]; }
prep_running() { prep_defined "$1" && [ "$(raw POST "/v1/vms/$1/start")" = 200 ]; }
prep_paused() { prep_running "$1" && [ "$(raw POST "/v1/vms/$1/pause")" = 200 ]; }
prep_snapshot() { prep_defined "$1"; } # restored from $W/snap (taken below)

# The next operation works: a VM absent is created; running or paused, a forced stop ends its
# process; stopped, it starts and is then stopped.
next_op() { # next_op NAME: "" or what went wrong
    local s p
    s=$(jget "$1" state)
    case $s in
    "")
        [ "$(raw POST /v1/vms "$(create_body "$1")")" = 201 ] || echo "create again: $(cat "$W/reply")"
        ;;
    running | paused)
        p=$(jget "$1" pid)
        [ "$(raw POST "/v1/vms/$1/stop" '{"force": true}')" = 200 ] && [ "$(jget "$1" state)" = stopped ] &&
            ! kill -0 "$p" 2>/dev/null || echo "forced stop: $(cat "$W/reply")"
        ;;
    *)
        if [ "$(raw POST "/v1/vms/$1/start")" != 200 ] || [ "$(jget "$1" state)" != running ]; then
            echo "start: $(cat "$W/reply")"
        elif [ "$(raw POST "/v1/vms/$1/stop" '{"force": true}')" != 200 ]; then
            echo "stop after the start: $(cat "$W/reply")"
        fi
        ;;
    esac
}

# crash OP STEP PREP METHOD PATH [BODY]: from PREP's state, OP with truced killed at STEP (or,
# with STEP +SECONDS, by kill -9 from outside that long after the request was sent: wherever
# that falls, between the named steps too).
# A VM whose case failed is left out of the later cases' checks (IGNORE): one failure, one line.
N=0
IGNORE=
crash() {
    local op=$1 step=$2 prep=$3 method=$4 path=$5 body=${6:-} case vm st out nx must cp
    N=$((N + 1))
    case="$op@$step"
    vm="v$N"
    path=${path//VM/$vm}
    body=${body//VM/$vm}
    if ! $prep "$vm"; then
        failc "$case" "could not prepare $vm: $(cat "$W/reply")"
        return
    fi
    [ "$op" = create ] && body=$(create_body "$vm")
    if [ "${step#+}" != "$step" ]; then # +SECONDS: kill -9 from outside after that long
        raw "$method" "$path" "$body" >/dev/null &
        cp=$!
        sleep "${step#+}"
        kill_truced
        wait $cp
    else
        kill_truced
        start_truced_at "$step" || { failc "$case" "truced did not start"; return; }
        st=$(raw "$method" "$path" "$body")
        gone_truced # a truced that never reaches STEP is killed after 5 s: the case fails
        kill_truced
    fi
    if [ "${step#+}" = "$step" ] && ! grep -q "TRUCED_CRASH_AT=$step:" "$W/truced.err"; then
        failc "$case" "truced did not die at $step (it answered $st)"
        start_truced_at
        return
    fi
    start_truced_at || { failc "$case" "truced did not come back: $(tail -2 "$W/truced.err")"; return; }
    must=1
    case $op in create | delete) must=0 ;; snapshot) must=running ;; esac
    out=$(CRASH_IGNORE="$IGNORE" $PY "$CHECK" "$S" "$STATE" "$DPID" "$DEFS" "$vm" "$must" "$BYPID" 2>&1)
    if [ "${out%% *}" != OK ]; then
        failc "$case" "$out"
        IGNORE="$IGNORE $vm"
        return
    fi
    nx=$(next_op "$vm")
    [ -z "$nx" ] && pass "$case" "${out#OK }; then the next operation worked" ||
        { failc "$case" "${out#OK }; but the next operation failed: $nx"; IGNORE="$IGNORE $vm"; }
}

mgr_needs "$A"
mkdir -p "$DEFS"
start_truced_at || { failc start "truced did not serve $S: $(cat "$W/truced.err")"; exit 0; }
# A bystander runs through every case: each restart must re-adopt it, same pid.
prep_running bystander || { failc setup "bystander: $(cat "$W/reply")"; exit 0; }
BYPID=$(jget bystander pid)
# The snapshot the restores load.
if ! prep_running snapsrc || [ "$(raw POST /v1/vms/snapsrc/snapshot "{\"dir\": \"$W/snap\"}")" != 200 ] ||
    [ "$(raw POST /v1/vms/snapsrc/stop '{"force": true}')" != 200 ]; then
    failc setup "snapshot: $(cat "$W/reply")"
    exit 0
fi
T0=$(date +%s.%N)

for step in create-begin create-file create-row; do crash create $step prep_absent POST /v1/vms; done
for step in start-begin launch-spawned launch-row launch-released start-api start-row; do
    crash start $step prep_defined POST /v1/vms/VM/start
done
for step in stop-begin stop-row stop-cad stop-gone; do
    crash stop $step prep_running POST /v1/vms/VM/stop '{"timeout_ms": 5000}'
done
for step in stop-row stop-sigterm stop-gone; do
    crash stop-force $step prep_running POST /v1/vms/VM/stop '{"force": true}'
done
for step in pause-begin pause-api pause-row; do crash pause $step prep_running POST /v1/vms/VM/pause; done
for step in resume-begin resume-api resume-row; do crash resume $step prep_paused POST /v1/vms/VM/resume; done
for step in snapshot-begin pause-api pause-row snapshot-paused snapshot-written snapshot-resumed; do
    crash snapshot $step prep_running POST /v1/vms/VM/snapshot "{\"dir\": \"$W/snap-VM\"}"
done
for step in restore-begin launch-spawned launch-row launch-released restore-loaded restore-row; do
    crash restore $step prep_snapshot POST /v1/vms/VM/restore "{\"dir\": \"$W/snap\"}"
done
for step in delete-begin delete-row delete-files; do crash delete $step prep_defined DELETE /v1/vms/VM; done
# Kill delays from outside, landing wherever they land (a start, a restore, a graceful stop).
for d in +0.01 +0.05 +0.15; do
    crash start "$d" prep_defined POST /v1/vms/VM/start
    crash restore "$d" prep_snapshot POST /v1/vms/VM/restore "{\"dir\": \"$W/snap\"}"
done
crash stop +0.05 prep_running POST /v1/vms/VM/stop '{"timeout_ms": 5000}'

# A truce whose API does not answer when truced comes back (in life a long snapshot, load or
# migration holding it; here its 32 connection slots held by idle clients) is adopted as it is,
# never killed.
N=$((N + 1))
vm=v$N
if prep_running $vm; then
    p=$(jget $vm pid)
    sk=$(jget $vm api_sock)
    kill_truced
    $PY -c '
import socket, sys, time
held = []
for _ in range(32):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    held.append(s)
open(sys.argv[2], "w").close()
for _ in range(500):  # until the flag file goes (at most 25 s)
    time.sleep(0.05)
    try:
        open(sys.argv[2]).close()
    except OSError:
        break' "$sk" "$W/held" &
    hp=$!
    for _ in $(seq 100); do [ -e "$W/held" ] && break; sleep 0.05; done
    start_truced_at
    s1="$(jget $vm state) $(jget $vm pid) $(jget $vm reason)"
    kill -0 "$p" 2>/dev/null && a1=alive || a1=gone
    rm -f "$W/held"
    wait "$hp"
    out=$($PY "$CHECK" "$S" "$STATE" "$DPID" "$DEFS" "$vm" 1 "$BYPID" 2>&1)
    nx=$(next_op $vm)
    [ "$s1" = "running $p re-adopted by truced (pid $p; its API is busy)" ] && [ $a1 = alive ] &&
        [ "${out%% *}" = OK ] && [ -z "$nx" ] && pass busy-api "while busy: $s1; then ${out#OK }" ||
        failc busy-api "while busy: '$s1', $a1; then $out; next: $nx"
else
    failc busy-api "could not prepare $vm: $(cat "$W/reply")"
fi

echo "manager-crash: $N cases in $($PY -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$T0" "$(date +%s.%N)") s"
exit 0
