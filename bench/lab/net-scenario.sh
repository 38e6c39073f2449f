# bench-net — L1 side of bench/net.sh: the same guest on a tap under truce (`--net tap=tap0`) and
# QEMU (`virtio-net-pci` + `-netdev tap`, no vhost), alternating, REPS boots each. Every boot
# measures, from L1 (10.9.0.1) against nettool servers in the guest (10.9.0.2): guest->L1 and
# L1->guest TCP throughput (BYTES each) and the median TCP round trip of 1-byte messages.
# Prints "BENCH-NET vmm rep test value" lines for the host. Parameters in /lab/bench/net.conf.
# lab: vmm=truce timeout=3600
REPS=5 BYTES=134217728 RTTS=2000
[ -f /lab/bench/net.conf ] && . /lab/bench/net.conf
nt=$(command -v nettool) || fail "nettool is not in the L1 image"
l1_modprobe tun || fail "insmod tun failed"
ip link set lo up
# one persistent tap for both VMMs, configured once
tunctl -t tap0 >/dev/null || fail "tunctl -t tap0 failed"
ip addr add 10.9.0.1/24 dev tap0
ip link set tap0 up
cat >netbench <<EOF
#!/bin/sh
# netbench — guest side: nettool servers on 10.9.0.2 until L1 says "done" on port 5204.
ip addr add 10.9.0.2/24 dev eth0 && ip link set eth0 up || { echo "GUEST-RESULT FAIL netbench no eth0"; exit 0; }
nettool echo tcp::5201 >/dev/null 2>&1 &
nettool sink tcp::5202 >/dev/null 2>&1 &
nettool source tcp::5203 $BYTES >/dev/null 2>&1 &
timeout 900 nettool recv tcp::5204 >/dev/null
echo "GUEST-RESULT PASS netbench"
EOF
chmod +x netbench

# Measure against the guest once its servers answer; print "test value" lines into FILE.
measure() {
    local file=$1 i=0 r
    : >"$file"
    until nettool rtt tcp:10.9.0.2:5201 1 >/dev/null 2>&1; do
        sleep 1
        i=$((i + 1))
        [ $i -lt 300 ] || return 0
    done
    r=$(nettool recvrate tcp:10.9.0.2:5203) && echo "guest_to_l1_Mbps ${r##*mbps=}" >>"$file"
    r=$(nettool sendrate tcp:10.9.0.2:5202 "$BYTES") && echo "l1_to_guest_Mbps ${r##*mbps=}" >>"$file"
    r=$(nettool rtt tcp:10.9.0.2:5201 "$RTTS") && echo "rtt_us $(echo "$r" | sed 's/rtt_us=\([0-9.]*\).*/\1/')" >>"$file"
    echo done | nettool connect tcp:10.9.0.2:5204 >/dev/null 2>&1
}

for rep in $(seq "$REPS"); do
    order="truce qemu"
    [ $((rep % 2)) = 0 ] && order="qemu truce"
    for vmm in $order; do
        if [ $vmm = truce ]; then
            set -- -x --net -x tap=tap0
        else
            set -- -x -M -x pcie=on \
                -x -netdev -x tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off \
                -x -device -x virtio-net-pci,netdev=n0,romfile=
        fi
        LAB_VMM=$vmm
        measure "m-$vmm-$rep" &
        helper=$!
        guest_boot -t 900 -m 512 -f "$nt:/bin/nettool" -f netbench:/checks/netbench \
            -a lab.check=netbench "$@"
        kill "$helper" 2>/dev/null # still waiting only when the guest never came up
        wait "$helper"
        expect_guest netbench
        sed "s/^/BENCH-NET $vmm $rep /" "m-$vmm-$rep"
    done
done
LAB_VMM=truce
