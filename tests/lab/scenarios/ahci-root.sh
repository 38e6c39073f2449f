# ahci-root — the Debian cloud kernel on truce's AHCI controller (MSI): the first boot finds a
# blank disk as /dev/sda (--disk if=ahci) and an ISO 9660 image as /dev/sr0 (--cdrom), reads a
# file from the CD byte-exact, makes an ext2 file system on the disk with busybox and the data
# on it; the second boot mounts /dev/sda (root=) as ext4 and runs a program from it. The cloud
# kernel has no ahci driver: libahci.ko and ahci.ko come from tests/lab/build-ahci-mods.sh.
# lab: vmm=truce timeout=240 needs=boot-bzimage
[ -f /lab/ahci/ahci.ko ] && [ -f /lab/ahci/data1.iso ] ||
    fail "the AHCI modules or ISO images are not in the L1 image (tests/lab/build-ahci-mods.sh)"
seq 1 30000 >data
truncate -s 64M disk.img || fail "cannot create the disk image"
cat >ahcilib <<'EOS'
# ahcilib — load the AHCI driver and wait for DEV (sourced by the checks)
ahci_up() {
    insmod /lab/libahci.ko && insmod /lab/ahci.ko || r FAIL "insmod ahci failed"
    i=0
    while [ ! -b "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    [ -b "$1" ] || r FAIL "no $1 after loading ahci: $(dmesg | grep -iE 'ahci|ata[0-9]' | tail -n 3)"
}
EOS
cat >ahciprep <<'EOS'
#!/bin/sh
# ahciprep — /dev/sr0: ISO 9660 with the known files; /dev/sda: ext2 with busybox and /data.
r() { echo "GUEST-RESULT $1 ahciprep $2"; exit 0; }
. /lab/ahcilib
ahci_up /dev/sda
i=0
while [ ! -b /dev/sr0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/sr0 ] || r FAIL "no /dev/sr0"
grep -q 'PCI-MSI.*ahci' /proc/interrupts || r FAIL "ahci does not use MSI: $(grep ahci /proc/interrupts)"
echo "ahciprep: $(cat /sys/block/sda/device/model) $(cat /sys/block/sda/size) sectors, sr0 $(cat /sys/block/sr0/device/model)"
mkdir -p /cd && mount -t iso9660 -o ro /dev/sr0 /cd || r FAIL "mount /dev/sr0 failed"
[ "$(cat /cd/marker.txt)" = truce-ahci-cd-1 ] || r FAIL "marker.txt: $(cat /cd/marker.txt)"
seq 1 150000 >/tmp/lines && cmp /cd/sub/lines.txt /tmp/lines || r FAIL "lines.txt differs"
umount /cd
mke2fs -F /dev/sda >/dev/null || r FAIL "mke2fs failed"
mkdir -p /mnt && mount -t ext4 /dev/sda /mnt || r FAIL "mount -t ext4 /dev/sda failed"
mkdir -p /mnt/bin && cp /bin/busybox /mnt/bin/busybox && ln -s busybox /mnt/bin/cat &&
    cp /lab/ahci-data /mnt/data || r FAIL "copy to the disk failed"
sync && umount /mnt || r FAIL "umount failed"
r PASS
EOS
cat >ahciroot <<'EOS'
#!/bin/sh
# ahciroot — mount the root= device (an AHCI disk) as ext4 and run cat from it.
r() { echo "GUEST-RESULT $1 ahciroot $2"; exit 0; }
. /lab/ahcilib
root=
for a in $(cat /proc/cmdline); do case "$a" in root=*) root=${a#root=} ;; esac; done
ahci_up "$root"
mkdir -p /newroot && mount -t ext4 "$root" /newroot || r FAIL "mount -t ext4 $root failed"
chroot /newroot /bin/cat /data >/tmp/data.back || r FAIL "cannot run a program from $root"
cmp /tmp/data.back /lab/ahci-data || r FAIL "data read back differs"
umount /newroot
r PASS
EOS
chmod +x ahciprep ahciroot
files="-f /lab/ahci/libahci.ko:/lab/libahci.ko -f /lab/ahci/ahci.ko:/lab/ahci.ko -f ahcilib:/lab/ahcilib -f data:/lab/ahci-data"
# shellcheck disable=SC2086 # $files is a list of options
guest_boot -t 120 $files -f ahciprep:/checks/ahciprep -x --disk -x "path=$PWD/disk.img,if=ahci" \
    -x --cdrom -x /lab/ahci/data1.iso -a lab.check=ahciprep
expect_init
expect_guest ahciprep
expect_end poweroff
# shellcheck disable=SC2086
guest_boot -t 120 $files -f ahciroot:/checks/ahciroot -x --disk -x "path=$PWD/disk.img,if=ahci" \
    -a "root=/dev/sda rootfstype=ext4 lab.check=ahciroot"
expect_init
expect_guest ahciroot
expect_end poweroff
