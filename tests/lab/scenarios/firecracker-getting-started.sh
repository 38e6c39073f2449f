# firecracker-getting-started — Firecracker's getting-started guide, run against truce: started
# as `firecracker --api-sock S` through a symlink, configured with curl --unix-socket (logger,
# boot-source with "console=ttyS0 reboot=k panic=1 pci=off", a root ext4 image made with
# mkfs.ext4 -d, a tap interface with the guide's MAC and tap0 at 172.16.0.1/30, InstanceStart).
# The guest kernel has no PCI and no ACPI (tests/lab/fc-kernel.config): it finds the disk and the
# NIC only through the virtio_mmio.device= entries and its interrupts through the MP table. Its
# init runs from the ext4 root mounted read-write (root=/dev/vda rw, added by truce for
# is_root_device), writes a file, checks eth0's MAC, gives eth0 172.16.0.2, pings the host
# (ping's one-second pacing needs the guest's timer: the PIT on the IOAPIC pin the MP table
# names), fetches a page from L1's httpd over TCP (sha256 compared), remounts / read-only and
# reboots (reboot -f: the reboot(2) of the guest's own `reboot`; reboot=k resets through the
# i8042). The VM then ends by itself as Firecracker's does: the process exits 0. L1 finds the file
# in the image (debugfs) and the image clean (e2fsck).
# lab: vmm=truce timeout=210
command -v curl >/dev/null || fail "curl is not in the L1 image"
command -v mkfs.ext4 >/dev/null || fail "mkfs.ext4 is not in the L1 image"
KERNEL=$LAB_GUESTS/vmlinux-fc
[ -f "$KERNEL" ] || fail "the Firecracker-style kernel is not built (tests/lab/build-fc-kernel.sh)"
SOCK=$PWD/firecracker.socket
GUEST_OUT=$PWD/guest.out # its fc-guest: lines go to the lab log

# The root file system: busybox and an init, as a Firecracker rootfs would carry its own.
mkdir -p rootfs/bin rootfs/sbin rootfs/dev rootfs/proc rootfs/sys rootfs/tmp rootfs/etc
cp /bin/busybox rootfs/bin/busybox || fail "cannot copy /bin/busybox"
for a in $(busybox --list); do [ -e "rootfs/bin/$a" ] || ln -s busybox "rootfs/bin/$a"; done
cat >rootfs/sbin/init <<'EOF'
#!/bin/sh
# init of the Firecracker-style guest: prove the platform, the root drive, the tap, then reboot.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
echo TRUCE-INIT
r() {
    echo "GUEST-RESULT $1 fc-guest${2:+ $2}"
    sync
    mount -o remount,ro / 2>/dev/null
    echo "fc-guest: rebooting"
    reboot -f
}
echo "fc-guest: cmdline $(cat /proc/cmdline)"
[ -d /sys/bus/pci ] && r FAIL "the kernel has PCI"
[ -d /sys/firmware/acpi ] && r FAIL "the kernel has ACPI"
n=$(ls /sys/bus/virtio/devices | wc -l)
[ "$n" = 2 ] || r FAIL "$n virtio devices, expected 2 (disk and NIC)"
for d in /sys/bus/virtio/devices/*; do
    readlink -f "$d" | grep -q virtio-mmio-cmdline || r FAIL "$d is not from virtio_mmio.device="
done
grep -q ' / ext4 rw' /proc/mounts || r FAIL "the root is not ext4 mounted read-write: $(grep ' / ' /proc/mounts)"
echo "written by the guest at $(cut -d' ' -f1 /proc/uptime) s of uptime" >/hello
sync
echo "fc-guest: /hello written"
mac=$(cat /sys/class/net/eth0/address)
[ "$mac" = 06:00:ac:10:00:02 ] || r FAIL "eth0 has MAC $mac, not the guide's"
ip link set eth0 up && ip addr add 172.16.0.2/30 dev eth0 || r FAIL "cannot configure eth0"
ping -c 3 -W 5 172.16.0.1 >/tmp/ping 2>&1 || r FAIL "ping 172.16.0.1: $(tail -n 2 /tmp/ping | tr '\n' ' ')"
echo "fc-guest: $(grep 'packets transmitted' /tmp/ping)"
wget -O /tmp/page http://172.16.0.1:8080/page >/tmp/wget 2>&1 || # (busybox's wget -T segfaults)
    r FAIL "wget http://172.16.0.1:8080/page: $(tail -n 2 /tmp/wget | tr '\n' ' ')"
sum=$(sha256sum /tmp/page | cut -d' ' -f1)
[ "$sum" = "$(cat /page.sha256)" ] || r FAIL "the page's sha256 is $sum"
echo "fc-guest: $(wc -c </tmp/page) bytes fetched over TCP from the host, sha256 matches"
echo "fc-guest: $(grep -E ' (timer|virtio[01])$' /proc/interrupts | tr -s ' ' | tr '\n' ';')"
r PASS
EOF
chmod 755 rootfs/sbin/init
mkdir -p www
dd if=/dev/urandom of=www/page bs=64k count=4 2>/dev/null
sha256sum www/page | cut -d' ' -f1 >rootfs/page.sha256
truncate -s 64M rootfs.ext4
mkfs.ext4 -q -F -d rootfs rootfs.ext4 >mkfs.out 2>&1 || fail "mkfs.ext4 -d failed: $(tail -n 1 mkfs.out)"

# The tap, as the guide makes it (tap0, 172.16.0.1/30).
l1_modprobe tun || fail "insmod tun failed"
mktap tap0 0 0 >/dev/null || fail "cannot create tap0"
ip addr add 172.16.0.1/30 dev tap0 && ip link set tap0 up || fail "cannot configure tap0"
httpd -f -p 172.16.0.1:8080 -h "$PWD/www" &
httpd=$!
sleep 0.2
kill -0 $httpd 2>/dev/null || fail "httpd on 172.16.0.1:8080 did not start"
trap 'kill $httpd 2>/dev/null' EXIT

ln -s "$(command -v truce)" firecracker
labrun -t 150 -m TRUCE-INIT -o "$GUEST_OUT" -r result -- ./firecracker --api-sock "$SOCK" \
    --boot-timer &
runner=$!
i=0
while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -S "$SOCK" ] || fail "firecracker --api-sock made no socket: $(tail -n 2 "$GUEST_OUT")"

# The guide's requests, in its order.
put() { # PATH JSON
    local s
    s=$(lab_api "$SOCK" PUT "$1" "$2")
    [ "$s" = 204 ] || {
        kill "$runner"
        fail "PUT $1 answered $s: $(cat api.body)"
    }
}
put /logger "{\"log_path\": \"$PWD/firecracker.log\", \"level\": \"Debug\", \"show_level\": true,
    \"show_log_origin\": true}"
put /boot-source "{\"kernel_image_path\": \"$KERNEL\",
    \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off\"}"
put /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$PWD/rootfs.ext4\",
    \"is_root_device\": true, \"is_read_only\": false}"
put /network-interfaces/net1 '{"iface_id": "net1", "guest_mac": "06:00:AC:10:00:02",
    "host_dev_name": "tap0"}'
put /actions '{"action_type": "InstanceStart"}'
wait "$runner" # the guest's reboot ends the VM: nobody stops it
eval "$(cat result)"
GUEST_STATUS=$status GUEST_TIMED_OUT=$timed_out GUEST_TIMEOUT=150
echo "firecracker-getting-started: tap0 rx $(cat /sys/class/net/tap0/statistics/rx_packets) tx $(cat /sys/class/net/tap0/statistics/tx_packets) packets"
mktap -d tap0 >/dev/null 2>&1

expect_init
expect_guest fc-guest
[ "$timed_out" = 0 ] || fail "the VM did not end within 150 s (the guest's reboot did not end it)"
[ "$status" = 0 ] || fail "firecracker exited $status after the guest's reboot, want 0 (as Firecracker)"
grep -q 'Listening on API socket' "$GUEST_OUT" || fail "no 'Listening on API socket' line"
[ -s firecracker.log ] || fail "PUT /logger's file is empty"
got=$(debugfs -R 'cat /hello' rootfs.ext4 2>/dev/null)
case "$got" in "written by the guest"*) ;; *) fail "/hello in the image holds '$got'" ;; esac
e2fsck -fn rootfs.ext4 >fsck.out 2>&1 || fail "e2fsck -fn: $(tail -n 2 fsck.out)"
tr -d '\r' <"$GUEST_OUT" | grep -a '^fc-guest: ' | sed 's/^/firecracker-getting-started: /'
echo "firecracker-getting-started: /init after ${marker_ms} ms; $(grep -c . firecracker.log) log lines"
