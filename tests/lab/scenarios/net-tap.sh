# net-tap — `--net tap=tap0` (truce creates the tap): L1 (10.9.0.1) and the guest (10.9.0.2) ping
# each other, then 100 MiB moves each way over TCP (busybox httpd + wget) with the sha256 checked
# by the receiver: the guest checks L1's file, L1 checks the guest's.
# lab: vmm=truce timeout=600 needs=boot-bzimage
cat >check <<'EOF'
#!/bin/sh
# net-tap — check (ARG: sha256 of L1's 100 MiB file): on --net tap, eth0 is 10.9.0.2/24 and L1 is
# 10.9.0.1. Ping L1; fetch http://10.9.0.1:8080/big (L1's httpd) and compare its sha256 with ARG;
# serve 100 MiB of fresh random data on port 8080 for L1 to fetch, printing its sha256; then wait
# (at most 300 s) for L1 to say "done" on port 5003 (L1 checks what it got; the scenario compares).
r() { echo "GUEST-RESULT $1 net-tap${2:+ $2}"; exit 0; }
ip addr add 10.9.0.2/24 dev eth0 && ip link set eth0 up || r FAIL "no eth0"
i=0
until ping -c 1 -W 1 10.9.0.1 >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 60 ] || r FAIL "L1 (10.9.0.1) never answered ping"
done
ping -c 3 10.9.0.1 | grep -q ' 0% packet loss' || r FAIL "ping to L1 lost packets"
echo "net-tap: ping to L1 ok"
# L1 -> guest
got=$(wget -q -O - http://10.9.0.1:8080/big | sha256sum | cut -d' ' -f1)
[ "$got" = "$1" ] || r FAIL "received sha256 $got, L1 sent $1"
echo "net-tap: 100 MiB from L1 intact"
# guest -> L1
mkdir -p /tmp/www
head -c 104857600 /dev/urandom >/tmp/gen || r FAIL "cannot make the payload"
echo "net-tap: sent-sha256 $(sha256sum /tmp/gen | cut -d' ' -f1)"
mv /tmp/gen /tmp/www/big
httpd -p 8080 -h /tmp/www || r FAIL "httpd did not start"
verdict=$(timeout 300 nc -l -p 5003 </dev/null)
[ "$verdict" = done ] || r FAIL "L1 did not finish fetching: ${verdict:-no word on port 5003}"
r PASS
EOF
chmod +x check
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
guest_boot -m 512 -f check:/checks/net-tap -x --net -x tap=tap0 -a "lab.check=net-tap:$sum" \
    -t 500
kill "$helper" 2>/dev/null
expect_init
[ -f l1-ping ] || fail "L1 never got a ping reply from the guest"
expect_guest net-tap
sent=$(tr -d '\r' <"$GUEST_OUT" | sed -n 's/^net-tap: sent-sha256 //p' | head -n 1)
[ -n "$sent" ] && [ "$sent" = "$(cat l1-got.sum 2>/dev/null)" ] ||
    fail "L1 received sha256 '$(cat l1-got.sum 2>/dev/null)', the guest sent '$sent'"
expect_end poweroff
