# firecracker-getting-started — Firecracker's getting-started guide, run against truce: started
# as `firecracker --api-sock S` through a symlink, configured with curl --unix-socket (logger,
# boot-source with "console=ttyS0 reboot=k panic=1 pci=off", a root ext4 image made with
# mkfs.ext4 -d, a tap interface with the guide's MAC, InstanceStart). The guest kernel has no PCI
# and no ACPI (tests/lab/fc-kernel.config): it finds the disk and the NIC only through the
# virtio_mmio.device= entries, runs its init from the ext4 root mounted read-write (root=/dev/vda
# rw, added by truce for is_root_device), writes a file and checks eth0's MAC. L1 then stops the
# process with SIGTERM (it dies of it, as Firecracker does), finds the file in the image
# (debugfs) and the image clean (e2fsck).
# Not proven here yet (see the report of issue 15): traffic over the tap (a wget and a ping
# worked in one run, but the guest stalled in others) and the guest's own reboot ending the VM
# (`reboot -f` did not return): both look like a lost interrupt on this kernel's edge-triggered
# virtio-mmio pins.
# lab: vmm=truce timeout=180
command -v curl >/dev/null || fail "curl is not in the L1 image"
command -v mkfs.ext4 >/dev/null || fail "mkfs.ext4 is not in the L1 image"
KERNEL=$LAB_GUESTS/vmlinux-fc
[ -f "$KERNEL" ] || fail "the Firecracker-style kernel is not built (tests/lab/build-fc-kernel.sh)"
SOCK=$PWD/firecracker.socket
GUEST_OUT=$PWD/fc.out

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
    echo "fc-guest: done"
    reboot -f # does not end the VM with this kernel here yet: L1 stops it (see the header)
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
r PASS
EOF
chmod 755 rootfs/sbin/init
truncate -s 64M rootfs.ext4
mkfs.ext4 -q -F -d rootfs rootfs.ext4 >mkfs.out 2>&1 || fail "mkfs.ext4 -d failed: $(tail -n 1 mkfs.out)"

# The tap, as the guide makes it (tap0, 172.16.0.1/30).
l1_modprobe tun || fail "insmod tun failed"
mktap tap0 0 0 >/dev/null || fail "cannot create tap0"
ip addr add 172.16.0.1/30 dev tap0 && ip link set tap0 up || fail "cannot configure tap0"

ln -s "$(command -v truce)" firecracker
labrun -t 120 -m TRUCE-INIT -o "$GUEST_OUT" -r result -- ./firecracker --api-sock "$SOCK" \
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
i=0
until grep -aq "fc-guest: done" "$GUEST_OUT" 2>/dev/null || [ $i -ge 1000 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -TERM "$(pidof truce)" 2>/dev/null # firecracker ends killed by SIGTERM, as Firecracker
wait "$runner"
eval "$(cat result)"
GUEST_STATUS=$status GUEST_TIMED_OUT=$timed_out GUEST_TIMEOUT=120
echo "firecracker-getting-started: tap0 rx $(cat /sys/class/net/tap0/statistics/rx_packets) tx $(cat /sys/class/net/tap0/statistics/tx_packets) packets"
mktap -d tap0 >/dev/null 2>&1

expect_init
expect_guest fc-guest
[ "$timed_out" = 0 ] || fail "the guest did not finish within 100 s"
[ "$status" = 143 ] || fail "firecracker exited $status on SIGTERM, want 143 (killed by it, as Firecracker)"
grep -q 'Listening on API socket' "$GUEST_OUT" || fail "no 'Listening on API socket' line"
[ -s firecracker.log ] || fail "PUT /logger's file is empty"
got=$(debugfs -R 'cat /hello' rootfs.ext4 2>/dev/null)
case "$got" in "written by the guest"*) ;; *) fail "/hello in the image holds '$got'" ;; esac
e2fsck -fn rootfs.ext4 >fsck.out 2>&1 || fail "e2fsck -fn: $(tail -n 2 fsck.out)"
echo "firecracker-getting-started: /init after ${marker_ms} ms; $(grep -c . firecracker.log) log lines"
