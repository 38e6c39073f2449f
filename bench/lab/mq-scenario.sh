# bench-mq — L1 side of bench/mq.sh: scaling with vCPUs. For each vCPU count V in VCPUS, REPS
# boots of each VMM of VMMS one after the other (which goes first rotates every rep), all with V
# queues: truce `--cpus V --disk path=..,queues=V --net tap=tap0,queues=V`, truce-vhost the same
# with `vhost=on` (a vhost-net instance per pair); QEMU `-smp V`, `virtio-blk-pci`
# with `num-queues=V` (aio=io_uring) and `-netdev tap,queues=V,vhost=on` + `virtio-net-pci` with
# `mq=on,vectors=2V+2`. Each boot: fio 4 KiB random read, QD32, numjobs=V on /dev/vda (IOPS),
# then from L1 V parallel TCP connections each way against nettool servers in the guest (the sum
# of their rates, Mbit/s: iperf3 -P V's measure; iperf3 is not in the lab image). Prints
# "BENCH-MQ vmm rep test value" lines, test = iops_V, g2h_V, h2g_V. Parameters in
# /lab/bench/mq.conf and L1's command line: `lab.rep0=N` (the reps are numbered from N+1) and
# `lab.vcpus=` (bench/mq.sh runs each rep of each vCPU count in an L1 of its own).
# lab: vmm=truce timeout=7200 long=1
REPS=5 RUNTIME=5 SIZE_MB=256 BYTES=33554432 VCPUS="1 2 4" VMMS="truce truce-vhost qemu"
[ -f /lab/bench/mq.conf ] && . /lab/bench/mq.conf
l1_no_khugepaged
REP0=$(lab_arg rep0 0)
VCPUS=$(lab_arg vcpus "$VCPUS" | tr , ' ') # bench/mq.sh: one vCPU count per L1
TOOLS=/lab/bench/tools.img
[ -f "$TOOLS" ] || fail "no tools image $TOOLS (run bench/mq.sh)"
nt=$(command -v nettool) || fail "nettool is not in the L1 image"
l1_modprobe tun || fail "insmod tun failed"
l1_modprobe vhost_net || fail "insmod vhost_net failed"
ip link set lo up
dd if=/dev/zero of=target.img bs=1M count="$SIZE_MB" 2>/dev/null || fail "cannot create the target image"
cat >mqbench <<EOF
#!/bin/sh
# mqbench — ARG: V. fio randread QD32 numjobs=V on /dev/vda, then nettool servers on 10.9.0.2
# until L1 says "done" on port 5204.
v=\$1
mkdir -p /t && mount -t ext4 -o ro /dev/vdb /t || { echo "GUEST-RESULT FAIL mqbench no tools disk"; exit 0; }
fio() { /t/lib/ld-linux-x86-64.so.2 --library-path /t/lib /t/fio "\$@"; }
r=\$(fio --name=randread --filename=/dev/vda --direct=1 --ioengine=libaio --rw=randread --bs=4k \
    --iodepth=32 --numjobs=\$v --group_reporting --runtime=$RUNTIME --time_based --minimal) ||
    { echo "GUEST-RESULT FAIL mqbench fio failed"; exit 0; }
echo "mqbench: iops \$(echo "\$r" | awk -F';' '{print \$8}')"
echo "mqbench: queues \$(ls -d /sys/block/vda/mq/[0-9]* | wc -l) \$(ls /sys/class/net/eth0/queues | tr '\n' ' ')"
umount /t
ip addr add 10.9.0.2/24 dev eth0 && ip link set eth0 up || { echo "GUEST-RESULT FAIL mqbench no eth0"; exit 0; }
nettool sink tcp::5202 >/dev/null 2>&1 &
nettool source tcp::5203 $BYTES >/dev/null 2>&1 &
timeout 900 nettool recv tcp::5204 >/dev/null
echo "GUEST-RESULT PASS mqbench"
EOF
chmod +x mqbench

# The sum of V parallel nettool CMD ARGS... rates (Mbit/s), or nothing when one failed.
par() {
    local v=$1 k
    shift
    for k in $(seq "$v"); do ("$@" >"rate.$k" 2>&1) & done
    wait
    for k in $(seq "$v"); do cat "rate.$k"; done | sed -n 's/.*mbps=\([0-9.]*\).*/\1/p' |
        awk -v n="$v" '{s += $1; c++} END {if (c == n) printf "%.1f\n", s}'
}

# From L1 once the guest's servers answer: "test value" lines into FILE; V connections each way.
measure() {
    local file=$1 v=$2 i=0 r
    : >"$file"
    while [ ! -e /sys/class/net/tap0 ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i + 1)); done
    ip addr add 10.9.0.1/24 dev tap0 2>/dev/null
    ip link set tap0 up
    i=0
    until echo x | nettool connect tcp:10.9.0.2:5202 >/dev/null 2>&1; do
        sleep 1
        i=$((i + 1))
        [ $i -lt 600 ] || return 0
    done
    r=$(par "$v" nettool recvrate tcp:10.9.0.2:5203) && [ -n "$r" ] && echo "g2h_$v $r" >>"$file"
    r=$(par "$v" nettool sendrate tcp:10.9.0.2:5202 "$BYTES") && [ -n "$r" ] && echo "h2g_$v $r" >>"$file"
    echo done | nettool connect tcp:10.9.0.2:5204 >/dev/null 2>&1
}

for v in $VCPUS; do
    order=$(lab_rotate "$REP0" "$VMMS") # rep REP0+1's order
    for rep in $(seq $((REP0 + 1)) $((REP0 + REPS))); do
        for vmm in $order; do
            if [ "${vmm%%-*}" = truce ]; then
                vhost=
                [ $vmm = truce-vhost ] && vhost=,vhost=on
                set -- -x --disk -x "path=$PWD/target.img,queues=$v" \
                    -x --disk -x "path=$TOOLS,readonly=on" -x --net -x "tap=tap0,queues=$v$vhost"
            else
                mq=
                [ "$v" -gt 1 ] && mq=",mq=on,vectors=$((2 * v + 2))"
                set -- -x -M -x pcie=on \
                    -x -drive -x "file=$PWD/target.img,format=raw,if=none,id=d0,cache=writeback,aio=io_uring" \
                    -x -device -x "virtio-blk-pci,drive=d0,num-queues=$v" \
                    -x -drive -x "file=$TOOLS,format=raw,if=none,id=d1,readonly=on" \
                    -x -device -x virtio-blk-pci,drive=d1 \
                    -x -netdev -x "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=on,queues=$v" \
                    -x -device -x "virtio-net-pci,netdev=n0,romfile=$mq"
            fi
            LAB_VMM=${vmm%%-*}
            measure "m-$vmm-$v-$rep" "$v" &
            helper=$!
            guest_boot -t 900 -c "$v" -m 512 -f "$nt:/bin/nettool" -f mqbench:/checks/mqbench \
                -a "lab.check=mqbench:$v" "$@"
            kill "$helper" 2>/dev/null
            wait "$helper"
            if ! tr -d '\r' <"$GUEST_OUT" | grep -aq "^GUEST-RESULT PASS mqbench"; then
                # a failed boot costs its samples, not the run: named in the results
                lab_show_output
                echo "BENCH-MQ-SKIP $vmm $rep v$v $(lab_last_line)"
                ip link del tap0 2>/dev/null
                continue
            fi
            tr -d '\r' <"$GUEST_OUT" | sed -n "s/^mqbench: iops \([0-9]*\)\$/BENCH-MQ $vmm $rep iops_$v \1/p"
            tr -d '\r' <"$GUEST_OUT" | sed -n "s/^mqbench: queues /BENCH-MQ-INFO $vmm $v /p"
            sed "s/^/BENCH-MQ $vmm $rep /" "m-$vmm-$v-$rep"
            ip link del tap0 2>/dev/null # the next VMM creates it again with its queues
        done
        order=$(lab_rotate 1 "$order")
    done
done
LAB_VMM=truce
