#!/usr/bin/env bash
# migrate.sh — stop-and-copy migration of a running tiny guest between two truce processes (UNIX
# socket and TCP): the count goes on at the destination from the next tick with the right sum,
# the source ends with status 20; a refusing or absent destination leaves the source running;
# a garbage or cut stream is refused by the destination with status 2.
set -u
cd "$(dirname "$0")/../.."
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
    elif [ "$first" != $((last + 1)) ] || ! grep -q "count done, sum 820" "$d/dst.log"; then
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
    for _ in $(seq 100); do [ -S "$d/mig.sock" ] && break; sleep 0.05; done
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

hostile() { # hostile NAME PATTERN BYTES-COMMAND: a stream that is not a migration is refused
    "$TRUCE" migrate-receive --listen "unix:$W/h.sock" --console none 2>"$W/h.err" &
    local p=$!
    for _ in $(seq 100); do [ -S "$W/h.sock" ] && break; sleep 0.05; done
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
