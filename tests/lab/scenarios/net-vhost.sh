# net-vhost — virtio-net with its data path in L1's kernel (vhost_net loaded, a tap): the Debian
# guest (10.9.5.2) gets its address, L1 (10.9.5.1) pings it and 8 MiB move each way over TCP with
# the sha256 checked (guest -> L1: L1 fetches the guest's file; L1 -> guest: the guest fetches
# L1's file through a CGI L1 calls), and a vhost kernel worker of truce's runs. First `truce run
# --net tap=vtap0,vhost=on` (virtio-pci: both rings interrupt through KVM irqfds, the guest powers
# off, status 0); then through the API (`"vhost": true`, virtio-mmio: truce forwards the
# interrupts) with pause + resume, and pause + Full snapshot + restore in a new truce process:
# after each the same checks pass again. (Diff snapshots and live migration: net-vhost-migrate.)
# lab: vmm=truce timeout=300 needs=boot-bzimage
command -v curl >/dev/null || fail "curl is not in the L1 image"
GUEST_OUT=$PWD/guest.out
MIB=8

cat >vhostnet <<'CHECK'
#!/bin/sh
# vhostnet — eth0 is 10.9.5.2/24; serve /tmp/www on port 8080: big (8 MiB of random data),
# big.sum (its sha256) and cgi-bin/pull, which fetches L1's http://10.9.5.1:8080/big and answers
# its sha256. L1 drives every check; this waits (600 s at most) for "done" on port 5003.
r() { echo "GUEST-RESULT $1 vhostnet${2:+ $2}"; exit 0; }
ip addr add 10.9.5.2/24 dev eth0 && ip link set eth0 up || r FAIL "no eth0"
mkdir -p /tmp/www/cgi-bin
head -c $((8 * 1048576)) /dev/urandom >/tmp/www/big || r FAIL "cannot make the payload"
sha256sum /tmp/www/big | cut -d' ' -f1 >/tmp/www/big.sum
cat >/tmp/www/cgi-bin/pull <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
wget -q -O - http://10.9.5.1:8080/big | sha256sum | cut -d' ' -f1
CGI
chmod +x /tmp/www/cgi-bin/pull
httpd -p 8080 -h /tmp/www || r FAIL "httpd did not start"
echo "vhostnet: serving"
ping -c 2 -W 2 10.9.5.1 >/dev/null 2>&1 || echo "vhostnet: no ping reply from L1: $(grep eth0 /proc/net/dev) $(grep virtio /proc/interrupts | tr -s ' ')"
verdict=$(timeout 600 nc -l -p 5003 </dev/null)
[ "$verdict" = done ] || r FAIL "L1 never said done: ${verdict:-nothing on port 5003}"
r PASS
CHECK
chmod +x vhostnet

l1_modprobe tun || fail "insmod tun failed"
l1_modprobe vhost_net || fail "insmod vhost_net failed"
[ -c /dev/vhost-net ] || mknod /dev/vhost-net c 10 238 || fail "no /dev/vhost-net in L1"
ip link set lo up
mktap vtap0 0 0 >/dev/null || fail "cannot create the tap vtap0"
ip addr add 10.9.5.1/24 dev vtap0 && ip link set vtap0 up || fail "cannot configure vtap0"
mkdir -p www
dd if=/dev/urandom of=www/big bs=1M count=$MIB 2>/dev/null
sum=$(sha256sum www/big | cut -d' ' -f1)
httpd -f -p 10.9.5.1:8080 -h "$PWD/www" &
HTTPD=$!
trap 'kill $HTTPD 2>/dev/null; kill $VMM_PID 2>/dev/null; mktap -d vtap0 >/dev/null 2>&1' EXIT

# round NAME: ping, guest -> L1 and L1 -> guest with the sha256 compared; prints one line.
round() {
    local t0 t1 t2 got want back
    ping -c 3 -W 2 10.9.5.2 | grep -q ' 0% packet loss' ||
        fail "$1: ping to the guest lost packets: $(ping -c 3 -W 2 10.9.5.2 | tail -n 2 | tr '\n' ' ')"
    t0=$(mobtool now)
    want=$(curl -sf -m 30 http://10.9.5.2:8080/big.sum) || fail "$1: no big.sum from the guest"
    got=$(curl -sf -m 120 http://10.9.5.2:8080/big | sha256sum | cut -d' ' -f1)
    [ "$got" = "$want" ] || fail "$1: guest -> L1: sha256 $got, the guest has $want"
    t1=$(mobtool now)
    back=$(curl -sf -m 120 http://10.9.5.2:8080/cgi-bin/pull | tr -d '\r\n ')
    [ "$back" = "$sum" ] || fail "$1: L1 -> guest: the guest got sha256 '$back', L1 sent $sum"
    t2=$(mobtool now)
    echo "net-vhost: $1: ping ok, $MIB MiB guest -> L1 in $((t1 - t0)) ms, L1 -> guest in $((t2 - t1)) ms, sha256 ok"
}

# a kernel worker named after the truce thread that owns the vhost fd (vhost-TID): vhost-net
# really serves the rings
vhost_worker() {
    local t
    for t in $(ls /proc/"$VMM_PID"/task); do
        grep -qx "vhost-$t" /proc/[0-9]*/comm 2>/dev/null && return 0
    done
    fail "$1: no vhost-TID kernel worker for a thread of truce ($VMM_PID): vhost-net does not serve this VM"
}

lab_initrd initrd.img vhostnet:/checks/vhostnet

# ---- truce run, virtio-pci, irqfds ----
wait_served() { # wait_served WHERE: the guest's web server answers (within 120 s)
    local t0
    t0=$(mobtool now)
    until curl -sf -m 2 -o /dev/null http://10.9.5.2:8080/big.sum; do
        sleep 1
        kill -0 "$VMM_PID" 2>/dev/null || fail "$1: truce ended: $(grep -v unmapped truce.out | tail -n 2 | tr '\n' ' ')"
        [ $(($(mobtool now) - t0)) -lt 120000 ] || fail "$1: the guest never served on 10.9.5.2:8080: $(tr -d '\r' <"$GUEST_OUT" | tail -n 3 | tr '\n' ' '); truce: $(grep -v 'KVM_RUN\|exit\|unmapped' truce.out | tail -n 8 | tr '\n' ' '); $(grep vtap0 /proc/net/dev)"
    done
}
: >truce.out
truce run --kernel "$(lab_kernel cloud)" --initrd initrd.img --memory 256M --log-level debug --cpus 2 \
    --cmdline "$LAB_BASE_CMDLINE lab.check=vhostnet" --net tap=vtap0,vhost=on \
    --console "file:$GUEST_OUT" </dev/null >truce.out 2>&1 &
VMM_PID=$!
wait_served run
grep -q 'net0: vhost-net rings 0x3 started.*irqfd rings 0x3' truce.out ||
    fail "run: the rings do not interrupt through irqfds: $(grep 'vhost-net' truce.out | head -n 3)"
vhost_worker run
grep 'vhost-net' truce.out | head -n 12 | sed 's/^/net-vhost: run: /'
round run
echo done | nc 10.9.5.2 5003 || fail "run: cannot tell the guest it is done"
lab_wait_poweroff "run: truce" 60
grep -q 'GUEST-RESULT PASS vhostnet' "$GUEST_OUT" || fail "run: the guest did not pass"

# ---- the API, virtio-mmio, interrupts forwarded; pause, resume, snapshot, restore ----
: >truce.out
: >"$GUEST_OUT"
S=$PWD/api0.sock
lab_truce_api "$S"
lab_want 204 "$S" PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\",
    \"initrd_path\": \"$PWD/initrd.img\", \"boot_args\": \"$LAB_BASE_CMDLINE lab.check=vhostnet\"}"
lab_want 204 "$S" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
lab_want 204 "$S" PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "vtap0",
    "vhost": true}'
lab_want 204 "$S" PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
lab_want 204 "$S" PUT /actions '{"action_type": "InstanceStart"}'
grep -q 'eth0: tap vtap0.*vhost-net' truce.out || fail "truce did not log eth0 on vhost-net: $(grep eth0 truce.out | head -n 2)"
wait_served boot
vhost_worker boot
round boot

lab_want 204 "$S" PATCH /vm '{"state": "Paused"}'
sleep 1
lab_want 204 "$S" PATCH /vm '{"state": "Resumed"}'
round pause-resume

lab_want 204 "$S" PATCH /vm '{"state": "Paused"}'
lab_want 204 "$S" PUT /snapshot/create "{\"snapshot_path\": \"$PWD/vm.state\",
    \"mem_file_path\": \"$PWD/vm.mem\", \"snapshot_type\": \"Full\"}"
kill -TERM "$VMM_PID"
wait "$VMM_PID" 2>/dev/null
S=$PWD/api1.sock
lab_truce_api "$S"
lab_want 204 "$S" PUT /snapshot/load "{\"snapshot_path\": \"$PWD/vm.state\",
    \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$PWD/vm.mem\"},
    \"resume_vm\": true}"
vhost_worker restore
round restore

echo done | nc 10.9.5.2 5003 || fail "cannot tell the guest it is done"
i=0
until grep -q 'GUEST-RESULT PASS vhostnet' "$GUEST_OUT"; do # the serial log goes on after restore
    sleep 0.5
    i=$((i + 1))
    [ $i -lt 40 ] || fail "the guest did not pass: $(tr -d '\r' <"$GUEST_OUT" | grep -a vhostnet | tail -n 2)"
done
lab_wait_poweroff "the restored truce" 40 # the guest powers off after its verdict
true
