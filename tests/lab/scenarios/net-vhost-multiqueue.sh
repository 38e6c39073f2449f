# net-vhost-multiqueue — `--net tap=vtapm,queues=4,vhost=on` on 4 vCPUs: one vhost-net instance
# per queue pair (four vhost kernel workers of truce's in L1, each pair's rings started with their
# interrupts on irqfds; 4 pairs watch 8 call eventfds plus the 2 rate limiters' timers, more than
# the 8 watches a device had room for before), the control queue served by truce (the cloud
# kernel's VQ_PAIRS_SET starts pairs 1-3), rx-0..3 and tx-0..3 in the guest's sysfs, and traffic
# both ways (8 TCP fetches from L1 with the md5 checked, pings sent from each vCPU) with
# interrupts on all 8 queues (the guest's /proc/interrupts per queue).
# lab: vmm=truce timeout=240 needs=boot-bzimage
lab_netmq_script 10.9.6.1 4
l1_modprobe tun || fail "insmod tun failed"
l1_modprobe vhost_net || fail "insmod vhost_net failed"
[ -c /dev/vhost-net ] || mknod /dev/vhost-net c 10 238 || fail "no /dev/vhost-net in L1"
ip link set lo up
mkdir -p www
dd if=/dev/urandom of=www/big bs=1M count=4 2>/dev/null
sum=$(md5sum www/big | cut -d' ' -f1)
( # L1's side once truce made the tap: address, web server, and truce's vhost workers
    i=0
    while [ ! -e /sys/class/net/vtapm ] && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    ip addr add 10.9.6.1/24 dev vtapm
    ip link set vtapm up
    [ $(($(cat /sys/class/net/vtapm/tun_flags) & 0x100)) != 0 ] && echo mq >l1-mq # IFF_MULTI_QUEUE
    httpd -f -p 10.9.6.1:8080 -h "$PWD/www" &
    echo $! >httpd.pid
    sleep 5
    for p in $(pidof truce); do
        for t in $(ls /proc/"$p"/task); do grep -lx "vhost-$t" /proc/[0-9]*/comm 2>/dev/null; done
    done | wc -l >workers
) &
helper=$!
guest_boot -c 4 -m 384 -f netmq:/checks/netmq -x --net -x tap=vtapm,queues=4,vhost=on \
    -x --log-level -x debug -a "lab.check=netmq:$sum" -t 200
kill "$helper" 2>/dev/null
[ -f httpd.pid ] && kill "$(cat httpd.pid)" 2>/dev/null
mktap -d vtapm >/dev/null 2>&1
expect_init
expect_guest netmq
expect_end poweroff
[ -f l1-mq ] || fail "vtapm is not a multiqueue tap in L1"
[ "$(cat workers 2>/dev/null)" = 4 ] ||
    fail "want 4 vhost kernel workers of truce's (one per queue pair), found '$(cat workers 2>/dev/null)'"
started=$(grep -c 'net0: vhost-net rings 0x3 started.*irqfd rings 0x3' "$GUEST_OUT")
[ "$started" = 4 ] ||
    fail "want all 4 pairs' rings started once each, on irqfds; the log shows $started: $(grep 'vhost-net rings' "$GUEST_OUT" | head -n 3 | tr '\n' ' ')"
grep 'netmq: interrupts\|vhost-net rings' "$GUEST_OUT" | tr -d '\r' | sed 's/^/net-vhost-multiqueue: /'
true
