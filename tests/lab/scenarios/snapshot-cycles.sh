# snapshot-cycles — a running Debian guest writing a counter to its virtio disk (fsync'd) and
# keeping it in memory is paused, snapshotted, killed and restored in a new truce process over
# and over (LAB_SNAP_CYCLES, default 20); each time the count goes on from the next number, no
# committed write is lost, and the guest's clock never goes backwards.
# lab: vmm=truce timeout=900 needs=boot-bzimage
command -v curl >/dev/null || fail "curl is not in the L1 image"
CYCLES=${LAB_SNAP_CYCLES:-20}
GUEST_OUT=$PWD/guest.out

counts() { tr -d '\r' <"$GUEST_OUT" | grep -aE '^count [0-9]+ [0-9.]+$'; }
last_count() { counts | tail -n 1 | cut -d' ' -f2; }
wait_count() { # wait_count N SECONDS: a line "count M" with M >= N appears
    local i=0
    while [ $i -lt $(($2 * 10)) ]; do
        [ "$(last_count)" -ge "$1" ] 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    fail "count $1 never came within $2 s (last: $(last_count)); $(tail -n 2 truce.out)"
}
cat >counter <<'CHECK'
#!/bin/sh
# counter — writes N to sector 0 of /dev/vda (fsync'd), then prints "count N UPTIME", forever.
n=$(dd if=/dev/vda bs=16 count=1 2>/dev/null | tr -dc 0-9)
n=${n:-0}
echo "counter: disk holds $n at start"
while :; do
    n=$((n + 1))
    printf '%-16s' "$n" | dd of=/dev/vda bs=16 count=1 conv=fsync,notrunc 2>/dev/null
    echo "count $n $(cut -d' ' -f1 /proc/uptime)"
    sleep 0.1
done
CHECK
chmod +x counter
lab_initrd initrd.img counter:/checks/counter
head -c 4194304 /dev/zero >disk.img

S=$PWD/api0.sock
lab_truce_api "$S"
lab_want 204 "$S" PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\",
    \"initrd_path\": \"$PWD/initrd.img\", \"boot_args\": \"$LAB_BASE_CMDLINE lab.check=counter\"}"
lab_want 204 "$S" PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}'
lab_want 204 "$S" PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$PWD/disk.img\",
    \"is_root_device\": false, \"is_read_only\": false}"
lab_want 204 "$S" PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
lab_want 204 "$S" PUT /actions '{"action_type": "InstanceStart"}'
wait_count 5 180

c=1
while [ $c -le "$CYCLES" ]; do
    lab_want 204 "$S" PATCH /vm '{"state": "Paused"}'
    lab_want 204 "$S" PUT /snapshot/create "{\"snapshot_path\": \"$PWD/vm.state\",
        \"mem_file_path\": \"$PWD/vm.mem\", \"snapshot_type\": \"Full\"}"
    # the source ends (its console output flushed): what it printed is what the guest had done
    kill -TERM "$VMM_PID"
    wait "$VMM_PID" 2>/dev/null
    saved=$(last_count)
    up=$(counts | tail -n 1 | cut -d' ' -f3)
    S=$PWD/api$c.sock
    lab_truce_api "$S"
    lab_want 204 "$S" PUT /snapshot/load "{\"snapshot_path\": \"$PWD/vm.state\",
        \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$PWD/vm.mem\"},
        \"resume_vm\": true}"
    wait_count $((saved + 3)) 60
    # the first count after the restore is the next number, and the guest's uptime moved on
    next=$(counts | awk -v s="$saved" '$2 > s { print; exit }')
    if [ "${next%% *}" != count ] || [ "$(echo "$next" | cut -d' ' -f2)" != $((saved + 1)) ]; then
        tr -d '\r' <"$GUEST_OUT" | grep -an -B 3 -A 3 "^count $saved " | sed 's/^/  | /'
        fail "cycle $c: after count $saved came '$next'"
    fi
    awk -v a="$up" -v b="$(echo "$next" | cut -d' ' -f3)" 'BEGIN { exit !(b >= a) }' ||
        fail "cycle $c: the guest clock went back from $up to $(echo "$next" | cut -d' ' -f3)"
    echo "snapshot-cycles: cycle $c: count $saved -> $((saved + 1))"
    c=$((c + 1))
done
# a repeated number anywhere would mean a lost or replayed write
dups=$(counts | cut -d' ' -f2 | sort -n | uniq -d | head -n 3)
[ -z "$dups" ] || fail "counts printed twice: $dups"
final=$(last_count)
lab_want 204 "$S" PATCH /vm '{"state": "Paused"}'
ondisk=$(dd if=disk.img bs=16 count=1 2>/dev/null | tr -dc 0-9)
[ "$ondisk" -ge "$final" ] 2>/dev/null ||
    fail "the disk holds '$ondisk', but the guest printed count $final (a committed write lost)"
echo "snapshot-cycles: $CYCLES cycles, final count $final, on disk $ondisk"
kill "$VMM_PID"
wait "$VMM_PID" 2>/dev/null
true
