# net-hostfwd — `--net user,hostfwd=tcp::8081-:80`: a 2 MiB file served by httpd in the guest is
# fetched from L1 at 127.0.0.1:8081 with its sha256 intact; L1 tells the guest the sum it got
# through a second forward (8082 -> 81), and both ends compare.
# lab: vmm=truce timeout=200 needs=boot-bzimage
ip link set lo up
dd if=/dev/urandom of=payload bs=1M count=2 2>/dev/null
want=$(sha256sum payload | cut -d' ' -f1)
(
    i=0
    while [ $i -lt 120 ]; do
        wget -q -O fetched http://127.0.0.1:8081/payload 2>/dev/null && break
        sleep 1
        i=$((i + 1))
    done
    got=$(sha256sum fetched 2>/dev/null | cut -d' ' -f1)
    echo "$got" >l1.sum
    i=0
    while [ $i -lt 30 ]; do
        echo "done $got" | nc 127.0.0.1 8082 && break
        sleep 1
        i=$((i + 1))
    done
) &
guest_boot -x --net -x user,hostfwd=tcp::8081-:80,hostfwd=tcp::8082-:81 \
    -f payload:/lab/payload -a lab.check=net-hostfwd -t 180
wait
expect_init
[ "$(cat l1.sum 2>/dev/null)" = "$want" ] ||
    fail "L1 fetched sha256 '$(cat l1.sum 2>/dev/null)' through the forward, want $want"
expect_guest net-hostfwd
expect_end poweroff
