# ahci-root — the Debian cloud kernel with its root file system on truce's AHCI controller (MSI):
# root=/dev/sda is an ext4 image made on the host (tests/lab/build-ahci-images.sh) on a disk given
# with --disk if=ahci; the guest mounts it and runs a program from it, reads a file byte-exact
# from an ISO 9660 image on the AHCI CD-ROM drive (/dev/sr0, --cdrom), and writes a pattern past
# the file system that L1 then finds in the image. The cloud kernel has no ahci driver:
# libahci.ko and ahci.ko come from tests/lab/build-ahci-mods.sh.
# lab: vmm=truce timeout=180 needs=boot-bzimage
[ -f /lab/ahci/ahci.ko ] && [ -f /lab/ahci/data1.iso ] && [ -f /lab/ahci/root.img ] ||
    fail "the AHCI modules or images are not in the L1 image (tests/lab/build-ahci-*.sh)"
cp /lab/ahci/root.img disk.img && truncate -s 32M disk.img || fail "cannot create the disk image"
cat >ahciroot <<'EOS'
#!/bin/sh
# ahciroot — load ahci; mount root= (ext4 on AHCI) and run cat from it; read the CD; write a
# pattern at 16 MiB of the disk.
r() { echo "GUEST-RESULT $1 ahciroot $2"; exit 0; }
root=
for a in $(cat /proc/cmdline); do case "$a" in root=*) root=${a#root=} ;; esac; done
insmod /lab/libahci.ko && insmod /lab/ahci.ko || r FAIL "insmod ahci failed"
i=0
while { [ ! -b "$root" ] || [ ! -b /dev/sr0 ]; } && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -b "$root" ] && [ -b /dev/sr0 ] || r FAIL "no $root or /dev/sr0: $(dmesg | grep -iE 'ahci|ata[0-9]' | tail -n 3)"
grep -q 'PCI-MSI.*ahci' /proc/interrupts || r FAIL "ahci does not use MSI: $(grep ahci /proc/interrupts)"
echo "ahciroot: $(cat /sys/block/sda/device/model) $(cat /sys/block/sda/size) sectors, queue depth $(cat /sys/block/sda/device/queue_depth), sr0 $(cat /sys/block/sr0/device/model)"
mkdir -p /newroot && mount -t ext4 "$root" /newroot || r FAIL "mount -t ext4 $root failed"
chroot /newroot /bin/cat /data >/tmp/data.back || r FAIL "cannot run a program from $root"
seq 1 30000 | cmp - /tmp/data.back || r FAIL "/data read back differs"
umount /newroot
mkdir -p /cd && mount -t iso9660 -o ro /dev/sr0 /cd || r FAIL "mount /dev/sr0 failed"
[ "$(cat /cd/marker.txt)" = truce-ahci-cd-1 ] || r FAIL "marker.txt: $(cat /cd/marker.txt)"
seq 1 150000 | cmp - /cd/sub/lines.txt || r FAIL "lines.txt differs"
umount /cd
seq 1 20000 >/tmp/pattern
dd if=/tmp/pattern of="$root" bs=1M seek=16 conv=fsync 2>/dev/null || r FAIL "write to $root failed"
r PASS
EOS
chmod +x ahciroot
guest_boot -t 120 -f /lab/ahci/libahci.ko:/lab/libahci.ko -f /lab/ahci/ahci.ko:/lab/ahci.ko \
    -f ahciroot:/checks/ahciroot -x --disk -x "path=$PWD/disk.img,if=ahci" \
    -x --cdrom -x /lab/ahci/data1.iso -a "root=/dev/sda rootfstype=ext4 lab.check=ahciroot"
expect_init
expect_guest ahciroot
expect_end poweroff
seq 1 20000 >pattern
dd if=disk.img bs=1M skip=16 2>/dev/null | head -c "$(wc -c <pattern)" | cmp - pattern ||
    fail "the guest's write did not reach the image"
