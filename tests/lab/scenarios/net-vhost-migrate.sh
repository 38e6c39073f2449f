# net-vhost-migrate — vhost-net's writes are dirty-logged: a Debian guest on `"vhost": true`
# (virtio-pci, irqfds) fetches a 4 MiB file from L1 again and again, reading it slowly so that
# its socket's queue holds frames only vhost wrote (the sha256 of each stream checked),
# while its machine is (1) snapshotted Full, then Diff mid-stream (tracking on from boot, so vhost
# starts with its log), killed, the Diff rebased onto the Full and restored in a new truce
# process: the stream in flight at the Diff completes with the right sha256; then (2) the
# restored VM (no tracking until the migration starts it, so the running rings switch their log
# on) is live-migrated to a second truce process in L1 whose interface is another tap on the same
# bridge: the stream in flight completes there with the right sha256, and the next one too.
# After the restore and after the migration the guest announces itself (VIRTIO_NET_F_GUEST_ANNOUNCE:
# its own gratuitous ARP, seen on br0 by /lab/bin/arpwatch).
# Taps vtap0 and vtap1 in bridge br0 (10.9.5.1); the guest is 10.9.5.2. Figures printed, never
# asserted.
# lab: vmm=truce timeout=240 needs=boot-bzimage
GUEST_OUT=$PWD/guest.out # every process's serial output, one after the other (O_APPEND)
MIB=4                    # each stream's size

cat >vhostmig <<'CHECK'
#!/bin/sh
# vhostmig — eth0 is 10.9.5.2/24; fetch http://10.9.5.1:8080/big (4 MiB) for ever, read slowly
# (8 blocks of 512 KiB, 250 ms apart: meanwhile the socket's queue fills with frames only vhost
# wrote), printing "vhostmig: stream N start" before and "vhostmig: stream N SHA256" after each.
slowread() {
    i=0
    while [ $i -lt 8 ]; do
        dd bs=512K count=1 iflag=fullblock 2>/dev/null
        sleep 0.25
        i=$((i + 1))
    done
    cat
}
ip addr add 10.9.5.2/24 dev eth0 && ip link set eth0 up || { echo "GUEST-RESULT FAIL vhostmig no eth0"; exit 0; }
n=0
while :; do
    n=$((n + 1))
    echo "vhostmig: stream $n start"
    wget -q -O - http://10.9.5.1:8080/big | slowread >/tmp/s
    echo "vhostmig: stream $n $(sha256sum </tmp/s | cut -d' ' -f1)"
    rm -f /tmp/s
done
CHECK
chmod +x vhostmig

l1_modprobe tun || fail "insmod tun failed"
l1_modprobe bridge || fail "insmod bridge failed"
l1_modprobe vhost_net || fail "insmod vhost_net failed"
[ -c /dev/vhost-net ] || mknod /dev/vhost-net c 10 238 || fail "no /dev/vhost-net in L1"
ip link set lo up
brctl addbr br0 || fail "cannot create the bridge br0"
for t in vtap0 vtap1; do
    mktap $t 0 0 >/dev/null && brctl addif br0 $t && ip link set $t up || fail "cannot set up $t"
done
ip addr add 10.9.5.1/24 dev br0 && ip link set br0 up || fail "cannot configure br0"
mkdir -p www
dd if=/dev/urandom of=www/big bs=1M count=$MIB 2>/dev/null
sum=$(sha256sum www/big | cut -d' ' -f1)
httpd -f -p 10.9.5.1:8080 -h "$PWD/www" &
HTTPD=$!
trap 'kill $HTTPD $VMM_PID ${DST:-} ${GARP:-} 2>/dev/null; mktap -d vtap0 >/dev/null 2>&1; mktap -d vtap1 >/dev/null 2>&1; ip link del br0 2>/dev/null' EXIT

# streams: every finished stream's line must carry the right sha256 (a line still being written
# has fewer than 64 digits: not looked at yet)
streams() { tr -d '\r' <"$GUEST_OUT" | grep -a '^vhostmig: stream [0-9]* '; }
check_streams() {
    local bad
    bad=$(streams | grep -E ' [0-9a-f]{64}$' | grep -v " $sum\$" | head -n 1)
    [ -z "$bad" ] || fail "$1: a stream went wrong: '$bad' (want $sum); $(grep -a 'vhost\|migrat\|snapshot' truce.out | tail -n 4 | tr '\n' ' ')"
}
last_started() { streams | grep ' start$' | tail -n 1 | cut -d' ' -f3; }
# wait_stream WHAT N SECONDS: stream N finished (right sha256) within SECONDS
wait_stream() {
    local i=0
    while ! streams | grep -q "^vhostmig: stream $2 $sum\$"; do
        check_streams "$1"
        tr -d '\r' <"$GUEST_OUT" | grep -aq 'GUEST-RESULT FAIL' && fail "$1: $(tr -d '\r' <"$GUEST_OUT" | grep -a 'GUEST-RESULT FAIL')"
        [ $i -lt $(($3 * 5)) ] || fail "$1: stream $2 did not finish within $3 s; last: $(streams | tail -n 2 | tr '\n' ' '); truce: $(tail -n 3 truce.out | tr '\n' ' ')"
        sleep 0.2
        i=$((i + 1))
    done
}
# mid_stream: a stream under way for a second at least; prints its number
finished() { streams | grep -qE "^vhostmig: stream $1 [0-9a-f]{64}\$"; }
mid_stream() {
    local n i=0
    while [ $i -lt 300 ]; do
        n=$(last_started)
        if [ -n "$n" ] && ! finished "$n"; then
            sleep 1
            finished "$n" || { echo "$n"; return 0; }
        fi
        sleep 0.2
        i=$((i + 1))
    done
    echo 0
}

lab_initrd initrd.img vhostmig:/checks/vhostmig

# ---- the source: tracking on from boot --------------------------------------------------------
: >truce.out
S=$PWD/api0.sock
lab_truce_api "$S" --enable-pci
lab_want 204 "$S" PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\",
    \"initrd_path\": \"$PWD/initrd.img\", \"boot_args\": \"$LAB_BASE_CMDLINE lab.check=vhostmig\"}"
lab_want 204 "$S" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256,
    "track_dirty_pages": true}'
lab_want 204 "$S" PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "vtap0",
    "vhost": true}'
lab_want 204 "$S" PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
lab_want 204 "$S" PUT /actions '{"action_type": "InstanceStart"}'
grep -q 'eth0: vhost-net logs its writes' truce.out ||
    fail "boot: vhost-net was not given a log: $(grep eth0 truce.out | head -n 3 | tr '\n' ' ')"
wait_stream boot 1 150

# ---- Full, then Diff mid-stream; the Diff rebased and restored in a new process ------------------
lab_want 204 "$S" PATCH /vm '{"state": "Paused"}'
lab_want 204 "$S" PUT /snapshot/create "{\"snapshot_path\": \"$PWD/full.st\",
    \"mem_file_path\": \"$PWD/full.mem\", \"snapshot_type\": \"Full\"}"
lab_want 204 "$S" PATCH /vm '{"state": "Resumed"}'
k=$(mid_stream)
lab_want 204 "$S" PATCH /vm '{"state": "Paused"}'
k=$(last_started)
lab_want 204 "$S" PUT /snapshot/create "{\"snapshot_path\": \"$PWD/diff.st\",
    \"mem_file_path\": \"$PWD/diff.mem\", \"snapshot_type\": \"Diff\"}"
kill -KILL "$VMM_PID"
wait "$VMM_PID" 2>/dev/null
dk=$(du -k diff.mem | cut -f1) fk=$(du -k full.mem | cut -f1)
# onto the Full's file itself (L1's memory is tight: no copy), which the restore then maps
truce snapshot-rebase --base-mem full.mem --diff-mem diff.mem >rebase.out 2>&1 ||
    fail "snapshot-rebase: $(cat rebase.out)"
rm -f diff.mem
S=$PWD/api1.sock
lab_truce_api "$S"
lab_garp_start br0 10.9.5.2 garp-restore.out
lab_want 204 "$S" PUT /snapshot/load "{\"snapshot_path\": \"$PWD/diff.st\",
    \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$PWD/full.mem\"},
    \"resume_vm\": true}"
t_loaded=$(mobtool now)
wait_stream "after the Diff restore" "$k" 60
lab_garp_wait "net-vhost-migrate: after the Diff restore" garp-restore.out "$t_loaded" "the load's answer"
echo "net-vhost-migrate: stream $k, under way at the Diff snapshot, finished after its restore with the right sha256 (Diff $dk KiB on disk, Full $fk KiB)"

# ---- live migration mid-stream to a second truce process on vtap1 ------------------------------
truce migrate-receive --listen "unix:$PWD/mig.sock" --net-override eth0=vtap1 </dev/null \
    >dst.log 2>&1 &
DST=$!
i=0
while [ ! -S mig.sock ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -S mig.sock ] || fail "migrate-receive made no socket: $(tail -n 2 dst.log)"
k=$(mid_stream)
before=$(wc -l <truce.out)
lab_garp_start br0 10.9.5.2 garp-migrate.out
t_mig=$(mobtool now)
lab_want 204 "$S" PUT /migration "{\"destination_url\": \"unix:$PWD/mig.sock\",
    \"max_downtime_ms\": 30}"
wait "$VMM_PID"
st=$?
[ $st = 20 ] || fail "the source exited $st after the migration, want 20: $(tail -n 2 truce.out)"
tail -n +$((before + 1)) truce.out | grep -q 'eth0: vhost-net logs its writes' ||
    fail "migration: vhost-net was not given a log: $(grep eth0 truce.out | tail -n 3 | tr '\n' ' ')"
VMM_PID=$DST
wait_stream "after the migration" "$k" 60
lab_garp_wait "net-vhost-migrate: after the migration" garp-migrate.out "$t_mig" "PUT /migration (its total time below)"
wait_stream "after the migration" "$((k + 1))" 60
kill -0 "$DST" 2>/dev/null || fail "the destination ended: $(tail -n 2 dst.log)"
check_streams "the end"
figures=$(sed -n 's/.*migrated to [^:]*:[^:]*: //p' truce.out | tail -n 1)
echo "net-vhost-migrate: stream $k, under way at the migration, finished on the destination with the right sha256; so did $((k + 1)); truce: $figures"
kill -TERM "$DST"
wait "$DST" 2>/dev/null
true
