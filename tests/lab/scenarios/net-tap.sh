# net-tap — `--net tap=tap0` (truce creates the tap): L1 (10.9.0.1) and the guest (10.9.0.2) ping
# each other, then 100 MiB moves each way over TCP (busybox httpd + wget) with the sha256 checked
# by the receiver: the guest checks L1's file, L1 checks the guest's.
# lab: vmm=truce timeout=600 needs=boot-bzimage
l1_modprobe tun || fail "insmod tun failed"
ip link set lo up
mkdir -p www
dd if=/dev/urandom of=www/big bs=1M count=100 2>/dev/null
sum=$(sha256sum www/big | cut -d' ' -f1)
(
    i=0
    while [ ! -e /sys/class/net/tap0 ] && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    ip addr add 10.9.0.1/24 dev tap0
    ip link set tap0 up
    httpd -f -p 10.9.0.1:8080 -h "$PWD/www" &
    httpd=$!
    i=0
    until ping -c 1 -W 1 10.9.0.2 >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 120 ] || exit 0
    done
    echo ok >l1-ping
    # the guest's payload appears once it has fetched ours
    i=0
    until wget -q -O - http://10.9.0.2:8080/big >got 2>/dev/null; do
        sleep 1
        i=$((i + 1))
        [ $i -lt 300 ] || break
    done
    sha256sum got | cut -d' ' -f1 >l1-got.sum
    rm -f got
    i=0
    while [ $i -lt 30 ]; do
        echo done | nc 10.9.0.2 5003 && break
        sleep 1
        i=$((i + 1))
    done
    kill "$httpd"
) &
helper=$!
guest_boot -m 512 -x --net -x tap=tap0 -a "lab.check=net-tap:$sum" -t 500
kill "$helper" 2>/dev/null
expect_init
[ -f l1-ping ] || fail "L1 never got a ping reply from the guest"
expect_guest net-tap
sent=$(tr -d '\r' <"$GUEST_OUT" | sed -n 's/^net-tap: sent-sha256 //p' | head -n 1)
[ -n "$sent" ] && [ "$sent" = "$(cat l1-got.sum 2>/dev/null)" ] ||
    fail "L1 received sha256 '$(cat l1-got.sum 2>/dev/null)', the guest sent '$sent'"
expect_end poweroff
