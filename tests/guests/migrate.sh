#!/usr/bin/env bash
# migrate.sh — stop-and-copy migration of a running tiny guest between two truce processes (UNIX
# socket and TCP): the count goes on at the destination from the next tick with the right sum,
# the source ends with status 20; a refusing or absent destination leaves the source running;
# a garbage or cut stream is refused by the destination with status 2.
set -u
cd "$(dirname "$0")/../.."
. tests/guests/ticks.sh
. tests/wait.sh
TRUCE=${TRUCE:-build/truce}
A=build/guests/actions.elf
W=$(mktemp -d)
trap 'rm -rf "$W"; kill $(jobs -p) 2>/dev/null' EXIT

# source NAME: a count guest under the API at $W/NAME/api, serial to $W/NAME/src.log
source_vm() { # source_vm NAME [DRIVES-JSON]
    local d=$W/$1
    mkdir -p "$d"
    cat >"$d/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "$PWD/$A", "boot_args": "count"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}, ${2:-}
 "serial": {"serial_out_path": "$d/src.log"}}
JSON
    "$TRUCE" --api-sock "$d/api" --config-file "$d/vm.json" 2>"$d/src.err" &
    SRC=$!
    for _ in $(seq 200); do grep -q "tick 2" "$d/src.log" 2>/dev/null && break; sleep 0.05; done
}
migrate() { # migrate NAME URL: PUT /migration on NAME's API; prints the HTTP status
    curl -s -o "$W/$1/reply" -w '%{http_code}' --unix-socket "$W/$1/api" -X PUT \
        http://l/migration -d "{\"destination_url\": \"$2\"}"
}
wait_pid() { # wait_pid PID: its status into ST, after at most 120 s (then killed: 137)
    timeout 120 tail --pid="$1" -f /dev/null || kill -KILL "$1"
    wait "$1"
    ST=$?
}

moved() { # moved NAME URL [DRIVES-JSON]: a full migration to a migrate-receive listening on URL
    local name=$1 url=$2 d=$W/$1
    source_vm "$name" "${3:-}"
    "$TRUCE" migrate-receive --listen "$url" --console "file:$d/dst.log" 2>"$d/dst.err" &
    local dst=$!
    sleep 0.5
    local code st_src st_dst last first
    code=$(migrate "$name" "$url")
    wait_pid $SRC
    st_src=$ST
    wait_pid $dst
    st_dst=$ST
    last=$(grep -o 'tick [0-9]*' "$d/src.log" | tail -1 | cut -d' ' -f2)
    first=$(grep -o 'tick [0-9]*' "$d/dst.log" | head -1 | cut -d' ' -f2)
    if [ "$code" != 204 ] || [ "$st_src" != 20 ] || [ "$st_dst" != 67 ]; then
        echo "FAIL $name: answer $code $(cat "$d/reply"), source $st_src, destination $st_dst ($(tail -n1 "$d/dst.err"))"
    elif ! ticks_once "$d/src.log" "$d/dst.log" || ! grep -q "count done, sum 820" "$d/dst.log"; then
        echo "FAIL $name: source stopped at tick $last, destination began at '$first': $(tail -n1 "$d/dst.log")"
    else
        echo "PASS $name (tick $last -> $first; $(grep -o 'migrated to [^,]*' "$d/src.err"))"
    fi
}
moved migrate-unix "unix:$W/mig.sock"
moved migrate-tcp "tcp:127.0.0.1:$((20000 + RANDOM % 20000))"
# a writable disk on this host: the source hands its image lock on to the destination
head -c 1048576 /dev/zero >"$W/disk.img"
DRIVE="\"drives\": [{\"drive_id\": \"d\", \"path_on_host\": \"$W/disk.img\", \"is_root_device\": false, \"is_read_only\": false}],"
moved migrate-disk-lock "unix:$W/mig-disk.sock" "$DRIVE"

# Pre-copy while the guest dirties pages: the "dirty" guest checks at every pass that each page
# still holds the previous pass, so a dirtied page the migration lost fails it at the
# destination. The source's log names the rounds and the downtime.
precopy() { # precopy NAME MAX_DOWNTIME_MS
    local name=$1 d=$W/$1
    mkdir -p "$d"
    cat >"$d/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "$PWD/$A", "boot_args": "dirty"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
 "serial": {"serial_out_path": "$d/src.log"}}
JSON
    "$TRUCE" --api-sock "$d/api" --config-file "$d/vm.json" 2>"$d/src.err" &
    SRC=$!
    for _ in $(seq 1200); do grep -q "pass 2" "$d/src.log" 2>/dev/null && break; sleep 0.1; done
    "$TRUCE" migrate-receive --listen "unix:$d/mig.sock" --console "file:$d/dst.log" \
        2>"$d/dst.err" &
    local dst=$! code st_src st_dst
    wait_sock "$d/mig.sock"
    code=$(curl -s -o "$d/reply" -w '%{http_code}' --unix-socket "$d/api" -X PUT \
        http://l/migration -d "{\"destination_url\": \"unix:$d/mig.sock\", \"max_downtime_ms\": $2}")
    wait_pid $SRC
    st_src=$ST
    wait_pid $dst
    st_dst=$ST
    if [ "$code" != 204 ] || [ "$st_src" != 20 ] || [ "$st_dst" != 67 ]; then
        echo "FAIL $name: answer $code $(cat "$d/reply"), source $st_src, destination $st_dst: $(tail -n1 "$d/dst.log")"
    elif grep -q FAIL "$d/dst.log" || ! grep -q "dirty done" "$d/dst.log"; then
        echo "FAIL $name: $(grep -m1 FAIL "$d/dst.log")"
    else
        echo "PASS $name ($(grep -o 'in [0-9]* ms, [0-9]* pre-copy rounds.*' "$d/src.err"))"
    fi
}
precopy migrate-precopy-dirty 30
precopy migrate-precopy-dirty-1ms 1

# At debug level both sides log the switch step by step (bench/migrate-host.sh reads it): every
# step of the source's pause -> the destination's word that the guest runs, and of the
# destination's end of memory -> resume; the destination started its VM before RAM came.
d=$W/timeline
mkdir -p "$d"
cat >"$d/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "$PWD/$A", "boot_args": "count"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
 "serial": {"serial_out_path": "$d/src.log"}}
JSON
"$TRUCE" --api-sock "$d/api" --level Debug --config-file "$d/vm.json" 2>"$d/src.err" &
SRC=$!
for _ in $(seq 200); do grep -q "tick 2" "$d/src.log" 2>/dev/null && break; sleep 0.05; done
"$TRUCE" migrate-receive --listen "unix:$d/mig.sock" --console "file:$d/dst.log" \
    --log-level debug 2>"$d/dst.err" &
DST=$!
wait_sock "$d/mig.sock"
code=$(curl -s -o "$d/reply" -w '%{http_code}' --unix-socket "$d/api" -X PUT http://l/migration \
    -d "{\"destination_url\": \"unix:$d/mig.sock\"}")
wait_pid $SRC
wait_pid $DST
src_tl=$(grep -o 'migration timeline: source pause at [0-9]* us:.*' "$d/src.err")
dst_tl=$(grep -o 'migration timeline: destination end of memory at [0-9]* us:.*' "$d/dst.err")
missing=
for k in paused dirty-log pages-sent state-saved state-sent answer resumed; do
    echo "$src_tl" | grep -q " $k=[0-9]" || missing="$missing source:$k"
done
for k in state-received checked state-set answer resumed; do
    echo "$dst_tl" | grep -q " $k=[0-9]" || missing="$missing destination:$k"
done
# the destination's threads (seccomp filters installed) came before its state was set
order=$(grep -o 'start-stats.*' "$d/dst.err" | grep -o ' [a-z]*=' | tr -d ' =' | paste -sd' ')
if [ "$code" != 204 ] || [ -n "$missing" ] || grep -q "did not confirm" "$d/src.err"; then
    echo "FAIL migrate-timeline: answer $code, missing:${missing:- none}; $(grep -m1 'did not confirm' "$d/src.err")"
elif ! echo "$order" | grep -q 'threads.*state'; then
    echo "FAIL migrate-timeline: the destination's start-up timeline is '$order', want its threads before its state"
else
    echo "PASS migrate-timeline ($(echo "$src_tl" | grep -o 'resumed=[0-9]*') us from the pause to the destination's word)"
fi

stays() { # stays NAME URL PATTERN: a migration that fails leaves the source running to its end
    local name=$1 d=$W/$1
    source_vm "$name"
    local code st
    code=$(migrate "$name" "$2")
    wait_pid $SRC
    st=$ST
    if [ "$code" != 400 ] || ! grep -q -- "$3" "$d/reply"; then
        echo "FAIL $name: answer $code $(cat "$d/reply")"
    elif [ "$st" != 67 ] || ! grep -q "count done, sum 820" "$d/src.log"; then
        echo "FAIL $name: the source did not go on (status $st)"
    else
        echo "PASS $name"
    fi
}
stays migrate-nobody-listens "unix:$W/nobody.sock" "cannot connect"
# a destination that refuses what it receives (an override the machine cannot take)
"$TRUCE" migrate-receive --listen "unix:$W/refuse.sock" --vsock-uds "$W/v.sock" \
    --console none 2>"$W/refuse.err" &
R=$!
sleep 0.5
stays migrate-destination-refuses "unix:$W/refuse.sock" "destination refused: vsock_override"
wait_pid $R
# the same with a disk: after the refusal the source holds its image's lock again
"$TRUCE" migrate-receive --listen "unix:$W/refuse2.sock" --vsock-uds "$W/v.sock" \
    --console none 2>"$W/refuse2.err" &
R=$!
sleep 0.5
source_vm migrate-refused-keeps-lock "$DRIVE"
d=$W/migrate-refused-keeps-lock
code=$(migrate migrate-refused-keeps-lock "unix:$W/refuse2.sock")
if [ "$code" != 400 ]; then
    echo "FAIL migrate-refused-keeps-lock: answer $code $(cat "$d/reply")"
elif flock -n -x "$W/disk.img" true; then
    echo "FAIL migrate-refused-keeps-lock: the running source's image is not locked"
else
    echo "PASS migrate-refused-keeps-lock"
fi
wait_pid $SRC
wait_pid $R
st=$ST
[ "$st" = 2 ] && echo "PASS migrate-refusing-destination-exits-2" ||
    echo "FAIL migrate-refusing-destination-exits-2: status $st"

# Nobody comes: migrate-receive --timeout gives up with status 2 and says so.
timeout 30 "$TRUCE" migrate-receive --listen "unix:$W/lonely.sock" --timeout 1 --console none \
    2>"$W/lonely.err"
st=$?
[ "$st" = 2 ] && grep -q "no migration source connected within 1 s" "$W/lonely.err" &&
    echo "PASS migrate-receive-timeout" ||
    echo "FAIL migrate-receive-timeout: status $st: $(tail -n1 "$W/lonely.err")"

# The destination under the API: PUT /migration/receive in a fresh truce answers 204 once the VM
# arrived and runs; the moved VM is then paused and resumed through that API and ends its count.
d=$W/api-receive
mkdir -p "$d" # the destination listens first: the source's count must not end before it moves
"$TRUCE" --api-sock "$d/dapi" 2>"$d/dst.err" &
DST=$!
wait_sock "$d/dapi"
dapi() { curl -s -o "$d/dreply" -w '%{http_code}' --unix-socket "$d/dapi" -X "$1" "http://l$2" -d "$3"; }
dapi PUT /migration/receive "{\"listen_url\": \"unix:$d/in.sock\", \"timeout_s\": 60}" >"$d/rcode" &
RCV=$!
wait_sock "$d/in.sock"
source_vm api-receive
code=$(migrate api-receive "unix:$d/in.sock")
wait $RCV
rcode=$(cat "$d/rcode")
state=$(curl -s --unix-socket "$d/dapi" http://l/ | tr -d ' \n' | grep -o '"state":"[A-Za-z]*"')
p=$(dapi PATCH /vm '{"state": "Paused"}') r=$(dapi PATCH /vm '{"state": "Resumed"}')
wait_pid $SRC
st_src=$ST
wait_pid $DST
if [ "$code $rcode $state $p $r $st_src $ST" != '204 204 "state":"Running" 204 204 20 67' ] ||
    ! grep -q "count done, sum 820" "$d/src.log"; then
    echo "FAIL migrate-api-receive: send $code, receive $rcode $(cat "$d/dreply"), $state, pause $p, resume $r, source $st_src, destination $ST"
else
    echo "PASS migrate-api-receive (PUT /migration/receive 204, Running, paused and resumed there)"
fi
"$TRUCE" --api-sock "$d/api2" 2>/dev/null &
p=$!
wait_sock "$d/api2"
code=$(curl -s -o "$d/r2" -w '%{http_code}' --unix-socket "$d/api2" -X PUT http://l/migration/receive \
    -d "{\"listen_url\": \"unix:$d/none.sock\", \"timeout_s\": 1}")
kill -TERM $p
wait $p
[ "$code" = 400 ] && grep -q "no migration source connected within 1 s" "$d/r2" &&
    echo "PASS migrate-api-receive-timeout" ||
    echo "FAIL migrate-api-receive-timeout: $code $(cat "$d/r2")"

hostile() { # hostile NAME PATTERN BYTES-COMMAND: a stream that is not a migration is refused
    "$TRUCE" migrate-receive --listen "unix:$W/h.sock" --console none 2>"$W/h.err" &
    local p=$!
    wait_sock "$W/h.sock"
    eval "$3" | timeout 10 socat -u - "UNIX-CONNECT:$W/h.sock" 2>/dev/null
    local st
    wait_pid $p
    st=$ST
    if [ "$st" = 2 ] && grep -q -- "$2" "$W/h.err"; then
        echo "PASS $1"
    else
        echo "FAIL $1: status $st: $(tail -n1 "$W/h.err")"
    fi
}
if command -v socat >/dev/null; then
    hostile migrate-garbage-stream "not a truce migration stream" "head -c 4096 /dev/urandom"
    hostile migrate-cut-stream "no migration stream" "printf TRUCEMIG"
else
    echo "FAIL migrate-hostile-streams: socat missing (tests/deps.txt)"
fi
exit 0
