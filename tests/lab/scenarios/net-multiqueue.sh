# net-multiqueue — `--net tap=tap0,queues=2` on 2 vCPUs: the cloud kernel's virtio_net finds 2
# queue pairs (VIRTIO_NET_F_MQ, the control queue's VQ_PAIRS_SET) and shows rx-0/rx-1 and
# tx-0/tx-1 under /sys/class/net/eth0/queues; L1 sees a multiqueue tap; traffic both ways (several
# TCP connections from L1, and pings sent from each vCPU) completes with interrupts on both
# receive queues and both transmit queues. queues=3 on 2 vCPUs is refused naming the limit.
# lab: vmm=truce timeout=300 needs=boot-bzimage
cat >netmq <<'EOG'
#!/bin/sh
# netmq — 2 pairs in sysfs; fetch from L1 over 8 connections, ping from both CPUs; per-queue IRQs.
r() { echo "GUEST-RESULT $1 netmq${2:+ $2}"; exit 0; }
ip addr add 10.9.0.2/24 dev eth0 && ip link set eth0 up || r FAIL "no eth0"
q=$(ls /sys/class/net/eth0/queues | tr '\n' ' ')
echo "netmq: queues: $q"
[ "$q" = "rx-0 rx-1 tx-0 tx-1 " ] || r FAIL "queues '$q', expected rx-0 rx-1 tx-0 tx-1"
i=0
until ping -c 1 -W 1 10.9.0.1 >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 60 ] || r FAIL "L1 (10.9.0.1) never answered ping"
done
irqs() { grep -E 'virtio[0-9]+-(input|output)\.[0-9]+' /proc/interrupts | awk '{print $NF, $2 + $3}'; }
irqs >before
for c in 0 1; do taskset -c $c ping -c 20 -i 0.05 10.9.0.1 >/dev/null || r FAIL "ping from cpu $c"; done
for k in 1 2 3 4 5 6 7 8; do
    (taskset -c $((k % 2)) wget -q -O - http://10.9.0.1:8080/big | md5sum >sum.$k) &
done
wait
for k in 1 2 3 4 5 6 7 8; do [ "$(cut -d' ' -f1 sum.$k)" = "$1" ] || r FAIL "fetch $k: md5 $(cat sum.$k)"; done
irqs >after
echo "netmq: interrupts before: $(tr '\n' ' ' <before)"
echo "netmq: interrupts after: $(tr '\n' ' ' <after)"
paste before after | while read -r q a q2 b; do [ "$b" -gt "$a" ] || echo "$q"; done >idle
[ -s idle ] && r FAIL "queues without interrupts: $(tr '\n' ' ' <idle)"
r PASS
EOG
chmod +x netmq
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
