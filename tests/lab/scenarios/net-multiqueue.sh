# net-multiqueue — `--net tap=tap0,queues=2` on 2 vCPUs: the cloud kernel's virtio_net finds 2
# queue pairs (VIRTIO_NET_F_MQ, the control queue's VQ_PAIRS_SET) and shows rx-0/rx-1 and
# tx-0/tx-1 under /sys/class/net/eth0/queues; L1 sees a multiqueue tap; traffic both ways (several
# TCP connections from L1, and pings sent from each vCPU) completes with interrupts on both
# receive queues and both transmit queues. queues=3 on 2 vCPUs is refused naming the limit.
# lab: vmm=truce timeout=300 needs=boot-bzimage
lab_netmq_script 10.9.0.1
l1_modprobe tun || fail "insmod tun failed"
ip link set lo up
mkdir -p www
dd if=/dev/urandom of=www/big bs=1M count=4 2>/dev/null
sum=$(md5sum www/big | cut -d' ' -f1)
(
    i=0
    while [ ! -e /sys/class/net/tap0 ] && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    ip addr add 10.9.0.1/24 dev tap0
    ip link set tap0 up
    [ $(($(cat /sys/class/net/tap0/tun_flags) & 0x100)) != 0 ] && echo mq >l1-mq # IFF_MULTI_QUEUE
    httpd -f -p 10.9.0.1:8080 -h "$PWD/www" &
    echo $! >httpd.pid
) &
helper=$!
guest_boot -c 2 -m 384 -f netmq:/checks/netmq -x --net -x tap=tap0,queues=2 \
    -a "lab.check=netmq:$sum" -t 220
kill "$helper" 2>/dev/null
[ -f httpd.pid ] && kill "$(cat httpd.pid)" 2>/dev/null
expect_init
expect_guest netmq
expect_end poweroff
[ -f l1-mq ] || fail "tap0 is not a multiqueue tap in L1 (tun_flags $(cat /sys/class/net/tap0/tun_flags 2>/dev/null))"
out=$(truce run --kernel "$LAB_GUESTS/vmlinuz" --cpus 2 --memory 128M \
    --net tap=tapx,queues=3 2>&1)
echo "$out" | grep -q 'queues=3: at most one queue pair per vCPU (2 vCPUs)' ||
    fail "queues=3 on 2 vCPUs not refused clearly: $out"
