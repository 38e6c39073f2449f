#!/usr/bin/env bash
# snapshot.sh — snapshot and restore of a running tiny guest on this host's /dev/kvm: the "count"
# guest ticks 1..40 keeping a sum in RAM; a snapshot mid-count restored in a new process (CLI and
# API) must go on from the next tick and end with the right sum. Hostile or mismatched state and
# memory files are refused with exit status 2 and a line naming the problem.
set -u
cd "$(dirname "$0")/../.."
. tests/guests/ticks.sh
. tests/guests/pattern.sh
. tests/guests/vmflags.sh
. tests/wait.sh
TRUCE=${TRUCE:-build/truce}
A=build/guests/actions.elf
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

api() { curl -s -o "$W/reply" -w '%{http_code}' --unix-socket "$1" -X "$2" "http://l$3" -d "$4"; }

# Pause the VM whose API is on SOCK, snapshot it into DIR/st and DIR/mem, end its process PID. Sets
# a and b (the caller's, when it has them local) to the two HTTP statuses.
pause_snapshot() { # SOCK DIR PID
    a=$(api "$1" PATCH /vm '{"state":"Paused"}')
    b=$(api "$1" PUT /snapshot/create "{\"snapshot_path\":\"$2/st\",\"mem_file_path\":\"$2/mem\"}")
    kill -TERM "$3"
    wait "$3"
}

# Case NAME: a fresh truce on SOCK answers PUT /snapshot/load BODY with 400 and PATTERN.
load_refused() { # NAME PATTERN SOCK BODY
    "$TRUCE" --api-sock "$3" 2>/dev/null &
    local p=$! c
    wait_sock "$3"
    c=$(api "$3" PUT /snapshot/load "$4")
    kill -TERM $p
    wait $p
    if [ "$c" = 400 ] && grep -q -- "$2" "$W/reply"; then
        echo "PASS $1"
    else
        echo "FAIL $1: $c $(cat "$W/reply")"
    fi
}

# Boot the count guest under the API, pause it after a few ticks and snapshot it into DIR (DRIVES:
# more sections, MACHINE: more machine-config fields, each starting with a comma).
# Prints nothing; DIR/st, DIR/mem, DIR/src.log hold the result; returns non-zero on failure.
take_snapshot() {
    local d=$1 drives=${2:-} machine=${3:-}
    mkdir -p "$d"
    cat >"$d/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "$PWD/$A", "boot_args": "count"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32$machine},$drives
 "serial": {"serial_out_path": "$d/src.log"}}
JSON
    "$TRUCE" --api-sock "$d/api" --config-file "$d/vm.json" 2>"$d/src.err" &
    local p=$!
    for _ in $(seq 200); do grep -q "tick 3" "$d/src.log" 2>/dev/null && break; sleep 0.05; done
    local a b
    pause_snapshot "$d/api" "$d" $p
    [ "$a" = 204 ] && [ "$b" = 204 ] || { echo "pause $a, create $b: $(cat "$W/reply")"; return 1; }
}

# The restored run in LOG must go on where SRC stopped and finish the count correctly.
judge() {
    local name=$1 src=$2 log=$3 status=$4
    local last first
    last=$(grep -o 'tick [0-9]*' "$src" | tail -1 | cut -d' ' -f2)
    first=$(grep -o 'tick [0-9]*' "$log" | head -1 | cut -d' ' -f2)
    if [ "$status" != 67 ]; then
        echo "FAIL $name: exit status $status, want 67 ($(tr '\n' '|' <"$log" | tail -c 200))"
    elif ! ticks_once "$src" "$log" &&
        { [ -z "$first" ] || [ "$first" -le 1 ] || [ "$first" -gt $((last + 1)) ]; }; then
        echo "FAIL $name: restored guest starts at tick '$first' after tick $last"
    elif ! grep -q "count done, sum 820" "$log"; then
        echo "FAIL $name: wrong end: $(tail -n1 "$log")"
    else
        echo "PASS $name (saved at tick $last, resumed at tick $first)"
    fi
}

if ! take_snapshot "$W/one"; then
    echo "FAIL snapshot-create: $(tail -n1 "$W/one/src.err")"
    exit 0
fi
cp "$W/one/src.log" "$W/one/saved.log"
echo "PASS snapshot-create ($(du -k "$W/one/mem" | cut -f1) KiB of 32 MiB memory on disk)"

timeout 120 "$TRUCE" restore --snapshot "$W/one/st" --mem "$W/one/mem" \
    --console "file:$W/one/cli.log" 2>"$W/one/cli.err"
judge snapshot-restore-cli "$W/one/src.log" "$W/one/cli.log" $?
timeout 120 "$TRUCE" restore --snapshot "$W/one/st" --mem "$W/one/mem" --clock-realtime \
    --console "file:$W/one/cli-rt.log" 2>"$W/one/cli-rt.err"
judge snapshot-restore-clock-realtime "$W/one/src.log" "$W/one/cli-rt.log" $?

# The same snapshot twice more, through the API: resumed at once, and loaded paused then resumed.
for mode in resume paused; do
    d="$W/$mode"
    mkdir -p "$d"
    cp "$W/one/st" "$W/one/mem" "$d/"
    "$TRUCE" --api-sock "$d/api" 2>"$d/err" &
    p=$!
    wait_sock "$d/api"
    r=$( [ $mode = resume ] && echo true || echo false )
    # The saved serial path is the source's log: the restored guest appends to it.
    cp "$W/one/saved.log" "$W/one/src.log"
    cp "$W/one/saved.log" "$d/before.log"
    c=$(api "$d/api" PUT /snapshot/load "{\"snapshot_path\":\"$d/st\",\"mem_backend\":{\"backend_type\":\"File\",\"backend_path\":\"$d/mem\"},\"resume_vm\":$r}")
    [ $mode = paused ] && sleep 0.5 && c="$c $(api "$d/api" PATCH /vm '{"state":"Resumed"}')"
    timeout 120 tail --pid=$p -f /dev/null || kill -KILL $p # a hang fails the case, not the tier
    wait $p
    st=$?
    if [ "$c" != 204 ] && [ "$c" != "204 204" ]; then
        echo "FAIL snapshot-load-$mode: load answered $c: $(cat "$W/reply")"
    else
        tail -n +$(($(wc -l <"$d/before.log") + 1)) "$W/one/src.log" >"$d/restored.log"
        judge snapshot-load-$mode "$d/before.log" "$d/restored.log" $st
    fi
done

# The Uffd backend: the same snapshot, its pages served by a page-fault handler over a UNIX socket
# (Firecracker's protocol); the handler must have served faults, the count must go on.
d=$W/uffd
mkdir -p "$d"
cp "$W/one/st" "$d/"
cp "$W/one/saved.log" "$W/one/src.log"
cp "$W/one/saved.log" "$d/before.log"
build/tools/uffd_handler "$d/uffd.sock" "$W/one/mem" >"$d/handler.out" 2>&1 &
H=$!
wait_sock "$d/uffd.sock"
"$TRUCE" --api-sock "$d/api" 2>"$d/err" &
p=$!
wait_sock "$d/api"
c=$(api "$d/api" PUT /snapshot/load "{\"snapshot_path\":\"$d/st\",\"mem_backend\":{\"backend_type\":\"Uffd\",\"backend_path\":\"$d/uffd.sock\"},\"resume_vm\":true}")
timeout 120 tail --pid=$p -f /dev/null || kill -KILL $p
wait $p
st=$?
timeout 10 tail --pid=$H -f /dev/null || kill -KILL $H
if [ "$c" != 204 ]; then
    echo "FAIL snapshot-load-uffd: load answered $c: $(cat "$W/reply")"
elif ! grep -q "served [1-9][0-9]* faults" "$d/handler.out"; then
    echo "FAIL snapshot-load-uffd: the handler served no fault: $(cat "$d/handler.out")"
else
    tail -n +$(($(wc -l <"$d/before.log") + 1)) "$W/one/src.log" >"$d/restored.log"
    judge "snapshot-load-uffd ($(grep -o 'served [0-9]* faults' "$d/handler.out"))" \
        "$d/before.log" "$d/restored.log" $st
fi
load_refused snapshot-load-uffd-no-handler "no page-fault handler at" "$d/api2" \
    "{\"snapshot_path\":\"$d/st\",\"mem_backend\":{\"backend_type\":\"Uffd\",\"backend_path\":\"$d/nobody.sock\"}}"

# AHCI drives (a disk and a CD-ROM drive, truce's "interface"/"media" drive fields) travel with
# the snapshot: the restored machine has the same drives and the controller's state.
d=$W/ahci
mkdir -p "$d"
head -c 1048576 /dev/zero >"$d/disk.img"
{ head -c 32768 /dev/zero; printf '\001CD001\001'; head -c 2041 /dev/zero; } >"$d/cd.iso"
if take_snapshot "$d" " \"drives\": [
   {\"drive_id\": \"sata0\", \"path_on_host\": \"$d/disk.img\", \"is_root_device\": false,
    \"interface\": \"ahci\"},
   {\"drive_id\": \"cd\", \"path_on_host\": \"$d/cd.iso\", \"is_root_device\": false,
    \"is_read_only\": true, \"interface\": \"ahci\", \"media\": \"cdrom\"}],"; then
    timeout 120 "$TRUCE" restore --snapshot "$d/st" --mem "$d/mem" --console "file:$d/cli.log" \
        2>"$d/cli.err"
    st=$?
    if ! grep -aq 'ahci-drives' "$d/st"; then
        echo "FAIL snapshot-ahci: the snapshot holds no AHCI controller state"
    else
        judge snapshot-ahci "$d/src.log" "$d/cli.log" $st
    fi
else
    echo "FAIL snapshot-ahci: $(tail -n1 "$d/src.err")"
fi

# A VM booted with --firmware: the ROM mapped below 4 GiB is not in guest RAM; the restored
# machine maps it again (romwrite.rom re-reads it pass after pass and fails when it is gone).
d=$W/firmware
mkdir -p "$d"
cat >"$d/vm.json" <<JSON
{"boot-source": {"firmware": "$PWD/build/guests/romwrite.rom"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
 "serial": {"serial_out_path": "$d/out"}}
JSON
"$TRUCE" --api-sock "$d/api0" --config-file "$d/vm.json" 2>"$d/err" &
p=$!
for _ in $(seq 1500); do grep -q '\.\.\.' "$d/out" 2>/dev/null && break; sleep 0.02; done
pause_snapshot "$d/api0" "$d" $p
dots=$(grep -o '\.' "$d/out" | wc -l)
timeout 60 "$TRUCE" restore --snapshot "$d/st" --mem "$d/mem" --console "file:$d/restored" \
    2>>"$d/err"
st=$?
if [ "$a $b $st" = "204 204 37" ] && grep -q "rom still there" "$d/restored" && [ "$dots" -lt 100 ]; then
    echo "PASS snapshot-firmware-rom (saved after $dots passes; the restored ROM read back to the end)"
else
    echo "FAIL snapshot-firmware-rom: pause $a, create $b, restored status $st after $dots passes: $(tail -c 120 "$d/restored" | tr '\n' '|')"
fi

# A snapshot taken while the boot files are still loading (src/vm/lazyload.c): demand mode loads a
# piece only when touched, and the guest waits for a key before it reads its initrd, so nothing is
# loaded when the pause comes; the pause loads the rest first. The restored guest, given its key,
# finds every page of the 8 MiB initrd in the test's pattern (pvh64.c).
d=$W/lazy
mkdir -p "$d"
pattern_file "$d/initrd.img"
cat >"$d/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "$PWD/build/guests/pvh64.elf", "initrd_path": "$d/initrd.img",
  "boot_args": "initrd=key initrd=reverse"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
 "serial": {"serial_out_path": "$d/src.log"}}
JSON
TRUCE_BOOT_LOAD=demand "$TRUCE" --api-sock "$d/api" --config-file "$d/vm.json" 2>"$d/src.err" &
p=$!
for _ in $(seq 200); do grep -q "waits for a key" "$d/src.log" 2>/dev/null && break; sleep 0.05; done
pause_snapshot "$d/api" "$d" $p
(sleep 1 && printf k && sleep 3) | timeout 60 "$TRUCE" restore --snapshot "$d/st" --mem "$d/mem" \
    --console stdio >"$d/restored" 2>"$d/restored.err"
st=$?
if [ "$a $b $st" = "204 204 65" ] && grep -q "initrd ok 8192 KiB" "$d/restored"; then
    echo "PASS snapshot-while-loading (the initrd whole in the restored guest)"
else
    echo "FAIL snapshot-while-loading: pause $a, create $b, restored status $st: $(tr '\n' '|' <"$d/restored" | tail -c 200)"
fi

# --thp travels with the snapshot (huge_pages Transparent): a restore keeps it unless told (CLI
# --thp off, the API's huge_pages None); the guest goes on either way. 2M is refused.
d=$W/thp
if take_snapshot "$d" "" ', "huge_pages": "Transparent"'; then
    for how in cli-saved cli-off api-None api-Transparent api-Snapshot; do
        cp "$d/src.log" "$d/before-$how.log"
        : >"$d/$how.log"
        case $how in
        cli-*)
            extra=() && [ $how = cli-off ] && extra=(--thp off)
            "$TRUCE" restore --snapshot "$d/st" --mem "$d/mem" --console "file:$d/$how.log" \
                "${extra[@]}" 2>"$d/$how.err" &
            p=$! c=204
            ;;
        api-*)
            "$TRUCE" --api-sock "$d/$how.sock" 2>"$d/$how.err" &
            p=$!
            wait_sock "$d/$how.sock"
            c=$(api "$d/$how.sock" PUT /snapshot/load "{\"snapshot_path\":\"$d/st\",\"mem_file_path\":\"$d/mem\",\"resume_vm\":true,\"huge_pages\":\"${how#api-}\"}")
            ;;
        esac
        log=$d/$how.log && [ $how != "${how#api}" ] && log=$d/src.log
        for _ in $(seq 200); do [ "$(grep -c tick "$log")" -gt "$(grep -c tick "$d/before-$how.log")" ] && break; sleep 0.02; done
        hg=$(ram_hg $p 32768)
        timeout 120 tail --pid=$p -f /dev/null || kill -KILL $p
        wait $p
        st=$?
        want=hg && case $how in *off | *None) want= ;; esac
        if [ "$c" != 204 ] || [ "$hg" != "$want" ]; then
            echo "FAIL snapshot-thp-$how: load $c, guest RAM advised '$hg', want '$want': $(cat "$W/reply")"
        elif [ $how != "${how#api}" ]; then
            tail -n +$(($(wc -l <"$d/before-$how.log") + 1)) "$d/src.log" >"$d/$how.restored"
            judge "snapshot-thp-$how (RAM advised: '$hg')" "$d/before-$how.log" "$d/$how.restored" $st
            cp "$d/before-$how.log" "$d/src.log"
        else
            judge "snapshot-thp-$how (RAM advised: '$hg')" "$d/src.log" "$d/$how.log" $st
        fi
    done
    load_refused snapshot-thp-api-2M-refused "huge_pages: not supported yet: 2M" "$d/2m.sock" \
        "{\"snapshot_path\":\"$d/st\",\"mem_file_path\":\"$d/mem\",\"huge_pages\":\"2M\"}"
else
    echo "FAIL snapshot-thp: $(tail -n1 "$d/src.err")"
fi

# Bad input: each refused with status 2 and the named reason, before any guest code runs.
bad() { # bad NAME PATTERN STATE MEM
    local name=$1 pat=$2
    timeout 30 "$TRUCE" restore --snapshot "$3" --mem "$4" --console none 2>"$W/bad.err"
    local st=$?
    if [ $st != 2 ] || ! grep -q -- "$pat" "$W/bad.err"; then
        echo "FAIL $name: status $st, want 2 with /$pat/: $(tail -n1 "$W/bad.err")"
    else
        echo "PASS $name"
    fi
}
S=$W/one/st M=$W/one/mem
size=$(stat -c %s "$S")
head -c $((size - 100)) "$S" >"$W/trunc"
bad snapshot-bad-truncated "truncated" "$W/trunc" "$M"
cp "$S" "$W/flip" && printf '\xff' | dd of="$W/flip" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
bad snapshot-bad-corrupted "checksum mismatch" "$W/flip" "$M"
bad snapshot-bad-magic "bad magic" "$A" "$M"
bad snapshot-bad-missing "cannot read" "$W/nonexistent" "$M"
head -c 16M "$M" >"$W/shortmem"
bad snapshot-bad-memsize "holds 16777216 bytes" "$S" "$W/shortmem"
cp "$S" "$W/ver" && printf '\x02' | dd of="$W/ver" bs=1 seek=8 conv=notrunc 2>/dev/null
bad snapshot-bad-header "header checksum" "$W/ver" "$M"
exit 0
