# snapshot-tcp — a Debian guest holding a TCP connection to L1 over a tap (a number sent and
# echoed every 100 ms) is paused, snapshotted, killed and restored in a new truce process, 3 times
# (LAB_SNAP_TCP_CYCLES): the same connection goes on (L1 took one connection, and every number came
# in order), and across each restore the guest's wall clock moved forward and never ahead of
# L1's; the last restore, with clock_realtime, moved it on by at least the time the VM was down.
# After the first restore the guest announces itself on the tap (VIRTIO_NET_F_GUEST_ANNOUNCE,
# userspace data path: its gratuitous ARP seen on stap0 by /lab/bin/arpwatch).
# lab: vmm=truce timeout=300 needs=boot-bzimage
command -v curl >/dev/null || fail "curl is not in the L1 image"
CYCLES=${LAB_SNAP_TCP_CYCLES:-3}
GUEST_OUT=$PWD/guest.out

cat >talk <<'CHECK'
#!/bin/sh
# talk — eth0 is 10.9.3.2/24; once L1 (10.9.3.1) answers ping, hold one TCP connection to it
# for ever, a number sent and echoed every 100 ms (mobtool talk prints "tcp N MS" each time).
r() { echo "GUEST-RESULT FAIL talk $1"; exit 0; }
ip addr add 10.9.3.2/24 dev eth0 && ip link set eth0 up || r "no eth0"
i=0
until ping -c 1 -W 1 10.9.3.1 >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 60 ] || r "L1 (10.9.3.1) never answered ping"
done
/bin/mobtool talk 10.9.3.1:5000 100
r "the connection ended"
CHECK
chmod +x talk

# L1's end: a persistent tap the restored processes attach to again, and one TCP server that takes
# a single connection (a guest that reconnected would be refused) and checks the numbers' order.
l1_modprobe tun || fail "insmod tun failed"
ip link set lo up
mktap stap0 0 0 >/dev/null || fail "cannot create the tap stap0"
ip addr add 10.9.3.1/24 dev stap0 && ip link set stap0 up || fail "cannot configure stap0"
: >tcp.log
mobtool serve 5000 "$PWD/tcp.log" >serve.out 2>&1 &
SERVER=$!
trap 'kill $SERVER ${GARP:-} 2>/dev/null; mktap -d stap0 >/dev/null 2>&1' EXIT

lines() { grep '^tcp ' tcp.log; }
field() { echo "$1" | cut -d' ' -f"$2"; } # field LINE N: the Nth word of "tcp N GUEST_MS L1_MS"
wait_n() { # wait_n N SECONDS: L1 got number N
    local i=0
    while [ $i -lt $(($2 * 10)) ]; do
        [ "$(lines | tail -n 1 | cut -d' ' -f2)" -ge "$1" ] 2>/dev/null && return 0
        grep -q '^end' tcp.log && fail "L1's end of the connection: $(grep '^end' tcp.log)"
        sleep 0.1
        i=$((i + 1))
    done
    fail "number $1 never came within $2 s (last: $(lines | tail -n 1)); guest: $(tr -d '\r' <"$GUEST_OUT" | grep -a 'talk\|tcp:' | tail -n 1); $(tail -n 1 truce.out)"
}

lab_initrd initrd.img talk:/checks/talk /lab/bin/mobtool:/bin/mobtool
S=$PWD/api0.sock
lab_truce_api "$S"
lab_want 204 "$S" PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\",
    \"initrd_path\": \"$PWD/initrd.img\", \"boot_args\": \"$LAB_BASE_CMDLINE lab.check=talk\"}"
lab_want 204 "$S" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
lab_want 204 "$S" PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "stap0"}'
lab_want 204 "$S" PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
lab_want 204 "$S" PUT /actions '{"action_type": "InstanceStart"}'
wait_n 5 180

c=1
while [ $c -le "$CYCLES" ]; do
    realtime=false
    [ $c = "$CYCLES" ] && realtime=true
    lab_want 204 "$S" PATCH /vm '{"state": "Paused"}'
    lab_want 204 "$S" PUT /snapshot/create "{\"snapshot_path\": \"$PWD/vm.state\",
        \"mem_file_path\": \"$PWD/vm.mem\", \"snapshot_type\": \"Full\"}"
    kill -TERM "$VMM_PID"
    wait "$VMM_PID" 2>/dev/null
    down_from=$(mobtool now) # the clock was read before this and is set after down_to
    before=$(lines | tail -n 1)
    n=$(field "$before" 2)
    S=$PWD/api$c.sock
    lab_truce_api "$S"
    [ $c != 1 ] || lab_garp_start stap0 10.9.3.2 garp.out
    down_to=$(mobtool now)
    lab_want 204 "$S" PUT /snapshot/load "{\"snapshot_path\": \"$PWD/vm.state\",
        \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$PWD/vm.mem\"},
        \"resume_vm\": true, \"clock_realtime\": $realtime}"
    t_loaded=$(mobtool now)
    wait_n $((n + 3)) 60
    [ $c != 1 ] || lab_garp_wait "snapshot-tcp: cycle 1" garp.out "$t_loaded" "the load's answer"
    after=$(lines | awk -v n=$((n + 1)) '$2 == n')
    [ -n "$after" ] || fail "cycle $c: number $((n + 1)) missing after $n"
    dg=$(($(field "$after" 3) - $(field "$before" 3)))
    dl=$(($(field "$after" 4) - $(field "$before" 4)))
    [ "$dg" -gt 0 ] || fail "cycle $c: the guest's clock went from $(field "$before" 3) to $(field "$after" 3) ms"
    # the guest's clock never runs ahead of L1's (1 s for how long each number took to arrive)
    [ "$dg" -le $((dl + 1000)) ] ||
        fail "cycle $c: the guest's clock moved $dg ms while L1's moved $dl ms"
    [ $realtime = false ] || [ "$dg" -ge $((down_to - down_from)) ] ||
        fail "cycle $c: clock_realtime moved the guest's clock $dg ms, but it was down $((down_to - down_from)) ms"
    echo "snapshot-tcp: cycle $c, clock_realtime $realtime: $n -> $((n + 1)) on the same connection; guest clock +$dg ms, L1 +$dl ms (down at least $((down_to - down_from)) ms)"
    c=$((c + 1))
done
[ "$(grep -c '^accepted' tcp.log)" = 1 ] || fail "L1 took $(grep -c '^accepted' tcp.log) connections"
lab_want 204 "$S" PATCH /vm '{"state": "Paused"}'
kill "$VMM_PID"
wait "$VMM_PID" 2>/dev/null
echo "snapshot-tcp: $CYCLES restores, $(lines | tail -n 1 | cut -d' ' -f2) numbers on one connection"
true
