#!/usr/bin/env bash
# firecracker.sh — truce started through a `firecracker -> truce` symlink behaves as Firecracker's
# binary: the API on --api-sock driven by curl (boot-source, InstanceStart), --boot-timer logging
# the guest's boot time, guest reset ending the process with 0, --no-api --config-file, the
# socket-in-use and argument errors with Firecracker's messages and exit codes, SIGTERM,
# --snapshot-version and --describe-snapshot. One PASS/FAIL line per case.
set -u
cd "$(dirname "$0")/../.."
. tests/wait.sh
TRUCE=$(realpath "${TRUCE:-build/truce}")
G=$(realpath build/guests)
D=$(mktemp -d /tmp/truce-fc-XXXXXX)
trap 'kill -KILL $(jobs -p) 2>/dev/null; rm -rf "$D"' EXIT
FC=$D/firecracker
ln -s "$TRUCE" "$FC"

pass() { echo "PASS firecracker-$1"; }
failc() { echo "FAIL firecracker-$1: $2"; }
if ! command -v curl >/dev/null; then
    failc api "curl missing (apt-get install curl)"
    exit 0
fi
api() { # METHOD PATH [BODY]: prints the HTTP status, the body goes to $D/body
    curl -s -o "$D/body" -w '%{http_code}' --unix-socket "$D/fc.sock" -X "$1" \
        -H 'Content-Type: application/json' ${3:+-d "$3"} "http://localhost$2"
}

# 1. Firecracker's getting-started sequence against the symlink (boot source, a root drive,
# InstanceStart), with the boot timer.
"$FC" --api-sock "$D/fc.sock" --id fc-guests --boot-timer --log-path "$D/log" --level Info \
    </dev/null >"$D/out" 2>"$D/err" &
pid=$!
if ! wait_sock "$D/fc.sock"; then
    failc api "no socket at $D/fc.sock: $(head -c 300 "$D/err")"
else
    st=$(api GET /vm/config)
    grep -q '"virtio-transport":"mmio"' "$D/body" && [ "$st" = 200 ] && pass vm-config-mmio ||
        failc vm-config-mmio "GET /vm/config $st: $(head -c 300 "$D/body")"
    s1=$(api PUT /boot-source "{\"kernel_image_path\": \"$G/actions.elf\", \"boot_args\": \"boot-timer i8042-reset\"}")
    s2=$(api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}')
    truncate -s 1M "$D/root.img"
    s4=$(api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$D/root.img\", \"is_root_device\": true, \"is_read_only\": false}")
    s3=$(api PUT /actions '{"action_type": "InstanceStart"}')
    timeout 60 tail --pid=$pid -f /dev/null
    kill -KILL $pid 2>/dev/null # still running after 60 s (e.g. InstanceStart refused): fail
    wait $pid
    rc=$?
    if [ "$s1$s2$s4$s3" != 204204204204 ]; then
        failc api "PUT statuses $s1 $s2 $s4 $s3: $(head -c 300 "$D/body")"
    elif [ $rc != 0 ]; then
        failc api "exit status $rc after the guest's i8042 reset, want 0: $(tail -n 2 "$D/err")"
    elif ! grep -q "actions 'boot-timer i8042-reset root=/dev/vda rw virtio_mmio.device=" "$D/out"; then
        failc api "the guest's serial output is not on stdout: $(head -c 300 "$D/out")"
    else
        pass api # the root drive is on the command line as Firecracker puts it, then virtio-mmio
    fi
    grep -Eq 'Guest-boot-time = +[0-9]+ us [0-9]+ ms, +[0-9]+ CPU us [0-9]+ CPU ms' "$D/log" &&
        pass boot-timer || failc boot-timer "no Guest-boot-time line in the log: $(head -c 400 "$D/log")"
    grep -q 'Firecracker exiting successfully. exit_code=0' "$D/log" && pass exit-line ||
        failc exit-line "no exit line in the log: $(tail -n 3 "$D/log")"
    [ ! -e "$D/fc.sock" ] && pass socket-removed || failc socket-removed "socket left"
fi

# 2. The socket path is taken: Firecracker's message, in the log, and exit code 1.
touch "$D/taken.sock"
"$FC" --api-sock "$D/taken.sock" --log-path "$D/log2" </dev/null >/dev/null 2>"$D/err2"
rc=$?
msg="Failed to open the API socket at: $D/taken.sock. Check that it is not already used."
[ $rc = 1 ] && grep -qF "$msg" "$D/log2" && grep -qF "$msg" "$D/err2" && pass socket-in-use ||
    failc socket-in-use "exit $rc, log: $(head -c 300 "$D/log2")"

# 3. --no-api --config-file boots at once; a debug-exit status is passed through unchanged.
cat >"$D/vm.json" <<EOF
{"boot-source": {"kernel_image_path": "$G/actions.elf", "boot_args": "exit"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}
EOF
timeout 60 "$FC" --no-api --config-file "$D/vm.json" </dev/null >"$D/out3" 2>"$D/err3"
rc=$?
[ $rc = 255 ] && grep -q "actions 'exit'" "$D/out3" && pass no-api ||
    failc no-api "exit $rc, want 255: $(tail -n 2 "$D/err3")"

# 4. SIGTERM ends it the way it ends Firecracker: killed by the signal.
sed 's/"exit"/"spin"/' "$D/vm.json" >"$D/spin.json"
"$FC" --no-api --config-file "$D/spin.json" </dev/null >"$D/out4" 2>"$D/err4" &
pid=$!
for _ in $(seq 100); do grep -q spin "$D/out4" && break; sleep 0.05; done
kill -TERM $pid
wait $pid
rc=$?
[ $rc = 143 ] && pass sigterm || failc sigterm "exit $rc, want 143 (SIGTERM)"

# 5. Argument errors: Firecracker's text on stderr and its exit codes.
bad() { # NAME WANT-STATUS STDERR-TEXT ARGS...
    local name=$1 want=$2 text=$3
    shift 3
    "$FC" "$@" </dev/null >"$D/bad.out" 2>"$D/bad.err"
    local rc=$?
    [ $rc = "$want" ] && grep -qF -- "$text" "$D/bad.err" && pass "$name" ||
        failc "$name" "exit $rc (want $want): $(head -c 300 "$D/bad.err")"
}
bad unknown-flag 153 "Found argument 'bogus' which wasn't expected" --bogus
bad equals-form 153 "Found argument 'api-sock=/x' which wasn't expected" --api-sock=/x
bad repeated 153 "The argument 'id' was provided more than once." --id a --id b
bad missing-value 153 "The argument 'api-sock' requires a value, but none was supplied." --api-sock
bad no-api-alone 153 "Argument 'config-file' required, but not found." --no-api
bad bad-level 152 "Invalid value for logger level: Failed to parse string to level filter: loud" \
    --api-sock "$D/x.sock" --level loud
bad bad-id 1 "Invalid instance ID: Invalid char (_) at position 2" --id ab_c
out=$("$FC" --version) && [ "$(head -n 1 <<<"$out")" = "Firecracker v1.17.0-dev" ] &&
    pass version || failc version "'$out'"
"$FC" --help | grep -q -- '--api-sock <api-sock> .*\[default: "/run/firecracker.socket"\]' &&
    pass help || failc help "no api-sock default in --help"

# 6. --snapshot-version and --describe-snapshot: the state-file format of a snapshot truce made.
sv=$("$FC" --snapshot-version)
rm -f "$D/fc.sock"
"$FC" --api-sock "$D/fc.sock" --level Warning </dev/null >"$D/out6" 2>"$D/err6" &
pid=$!
if wait_sock "$D/fc.sock"; then
    api PUT /boot-source "{\"kernel_image_path\": \"$G/actions.elf\", \"boot_args\": \"spin\"}" >/dev/null
    api PUT /actions '{"action_type": "InstanceStart"}' >/dev/null
    api PATCH /vm '{"state": "Paused"}' >/dev/null
    st=$(api PUT /snapshot/create "{\"snapshot_path\": \"$D/snap\", \"mem_file_path\": \"$D/mem\"}")
fi
kill -TERM $pid 2>/dev/null
wait $pid 2>/dev/null
desc=$("$FC" --describe-snapshot "$D/snap" 2>&1)
[ "${st:-}" = 204 ] && [ -n "$sv" ] && [ "$desc" = "$sv" ] && pass describe-snapshot ||
    failc describe-snapshot "snapshot/create ${st:-none}, --snapshot-version '$sv', --describe-snapshot '$desc'"
"$FC" --describe-snapshot "$G/actions.elf" >/dev/null 2>"$D/err7"
rc=$?
[ $rc = 1 ] && grep -q "Invalid data format version of snapshot file" "$D/err7" &&
    pass describe-not-a-snapshot || failc describe-not-a-snapshot "exit $rc: $(head -c 200 "$D/err7")"
