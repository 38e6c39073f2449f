#!/usr/bin/env bash
# diffsnap.sh — Diff snapshots on this host's /dev/kvm: the "dirty" guest rewrites pages pass
# after pass and checks each still holds the previous pass; a Full snapshot, then a Diff one two
# passes later, merged with `truce snapshot-rebase` and restored, must finish every pass. The
# Diff's state on the unmerged base must be caught by the guest (the diff is what holds the
# pages). A Diff without tracking, and a rebase of mismatched files, are refused.
set -u
cd "$(dirname "$0")/../.."
. tests/wait.sh
TRUCE=${TRUCE:-build/truce}
A=build/guests/actions.elf
W=$(mktemp -d)
trap 'rm -rf "$W"; kill $(jobs -p) 2>/dev/null' EXIT

api() { curl -s -o "$W/reply" -w '%{http_code}' --unix-socket "$1" -X "$2" "http://l$3" -d "$4"; }
wait_for() { # wait_for FILE PATTERN: at most 120 s
    for _ in $(seq 1200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
snap() { # snap SOCK TYPE STATE MEM: pause, snapshot, resume; prints the three HTTP codes
    local a b c
    a=$(api "$1" PATCH /vm '{"state":"Paused"}')
    b=$(api "$1" PUT /snapshot/create \
        "{\"snapshot_type\":\"$2\",\"snapshot_path\":\"$3\",\"mem_file_path\":\"$4\"}")
    c=$(api "$1" PATCH /vm '{"state":"Resumed"}')
    echo "$a $b $c"
}
restore() { # restore NAME STATE MEM: restored run's status into ST, serial into $W/NAME.log
    timeout 300 "$TRUCE" restore --snapshot "$2" --mem "$3" --console "file:$W/$1.log" \
        2>"$W/$1.err"
    ST=$?
}

# The source: tracking on, serial to src.log.
cat >"$W/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "$PWD/$A", "boot_args": "dirty"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32, "track_dirty_pages": true},
 "serial": {"serial_out_path": "$W/src.log"}}
JSON
"$TRUCE" --api-sock "$W/api" --config-file "$W/vm.json" 2>"$W/src.err" &
SRC=$!
wait_for "$W/src.log" "pass 2"
full=$(snap "$W/api" Full "$W/full.st" "$W/full.mem")
wait_for "$W/src.log" "pass 4"
diff=$(snap "$W/api" Diff "$W/diff.st" "$W/diff.mem")
kill -TERM $SRC
wait $SRC
if [ "$full $diff" != "204 204 204 204 204 204" ]; then
    echo "FAIL diff-snapshot-create: answers $full / $diff: $(cat "$W/reply")"
    exit 0
fi
fk=$(du -k "$W/full.mem" | cut -f1)
dk=$(du -k "$W/diff.mem" | cut -f1)
echo "PASS diff-snapshot-create (Full $fk KiB, Diff $dk KiB on disk of 32 MiB)"

# The Diff's state on the base alone: the pages written since the Full are missing.
cp --sparse=always "$W/full.mem" "$W/base-only.mem"
restore diff-unmerged "$W/diff.st" "$W/base-only.mem"
if [ $ST = 3 ] && grep -q "FAIL dirty page" "$W/diff-unmerged.log"; then
    echo "PASS diff-snapshot-needs-its-pages ($(grep -o 'FAIL dirty.*' "$W/diff-unmerged.log"))"
else
    echo "FAIL diff-snapshot-needs-its-pages: status $ST: $(tail -n1 "$W/diff-unmerged.log")"
fi

# Merged, it is the whole machine.
cp --sparse=always "$W/full.mem" "$W/merged.mem"
if ! "$TRUCE" snapshot-rebase --base-mem "$W/merged.mem" --diff-mem "$W/diff.mem" 2>"$W/rb.err"; then
    echo "FAIL diff-snapshot-rebase: $(cat "$W/rb.err")"
else
    restore diff-merged "$W/diff.st" "$W/merged.mem"
    if [ $ST = 67 ] && grep -q "dirty done" "$W/diff-merged.log" &&
        ! grep -q FAIL "$W/diff-merged.log"; then
        echo "PASS diff-snapshot-restore (resumed at $(grep -o 'pass [0-9]*' "$W/diff-merged.log" | head -1))"
    else
        echo "FAIL diff-snapshot-restore: status $ST: $(tail -n2 "$W/diff-merged.log" | tr '\n' '|')"
    fi
fi

# Refusals: Diff without tracking; a rebase of files of different sizes.
cat >"$W/plain.json" <<JSON
{"boot-source": {"kernel_image_path": "$PWD/$A", "boot_args": "spin"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
 "serial": {"serial_out_path": "$W/plain.log"}}
JSON
"$TRUCE" --api-sock "$W/api2" --config-file "$W/plain.json" 2>/dev/null &
P=$!
wait_sock "$W/api2"
api "$W/api2" PATCH /vm '{"state":"Paused"}' >/dev/null
code=$(api "$W/api2" PUT /snapshot/create \
    "{\"snapshot_type\":\"Diff\",\"snapshot_path\":\"$W/x.st\",\"mem_file_path\":\"$W/x.mem\"}")
kill -TERM $P
wait $P
if [ "$code" = 400 ] && grep -q track_dirty_pages "$W/reply"; then
    echo "PASS diff-snapshot-needs-tracking"
else
    echo "FAIL diff-snapshot-needs-tracking: $code $(cat "$W/reply")"
fi
head -c 4096 /dev/zero >"$W/small.mem"
"$TRUCE" snapshot-rebase --base-mem "$W/small.mem" --diff-mem "$W/diff.mem" 2>"$W/rb2.err"
st=$?
if [ $st = 2 ] && grep -q "sizes must match" "$W/rb2.err"; then
    echo "PASS diff-snapshot-rebase-mismatch"
else
    echo "FAIL diff-snapshot-rebase-mismatch: status $st: $(cat "$W/rb2.err")"
fi
