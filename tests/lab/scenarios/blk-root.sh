# blk-root — ext4 root file system on virtio-blk: the first boot makes the file system on a blank
# raw image, installs busybox and a data file, syncs, powers off; the second boot (root=/dev/vda)
# mounts it and reads the data back byte-exact through a chroot into the disk.
# lab: vmm=truce timeout=300 needs=boot-bzimage
seq 1 30000 >data # ~170 KB of known bytes
truncate -s 64M disk.img || fail "cannot create the disk image"
cat >blkprep <<'EOF'
#!/bin/sh
# blkprep — make an ext4 file system on /dev/vda with busybox and /data on it.
r() { echo "GUEST-RESULT $1 blkprep $2"; exit 0; }
[ -b /dev/vda ] || r FAIL "no /dev/vda"
if command -v mkfs.ext4 >/dev/null; then
    mkfs.ext4 -q -F /dev/vda || r FAIL "mkfs.ext4 failed"
    echo "blkprep: file system made by mkfs.ext4"
else # busybox only: ext2 layout, mounted and written by the ext4 driver below
    mke2fs -F /dev/vda >/dev/null || r FAIL "mke2fs failed"
    echo "blkprep: file system made by busybox mke2fs (no mkfs.ext4 in the guest)"
fi
mkdir -p /mnt && mount -t ext4 /dev/vda /mnt || r FAIL "mount -t ext4 /dev/vda failed"
mkdir -p /mnt/bin && cp /bin/busybox /mnt/bin/busybox && ln -s busybox /mnt/bin/sh &&
    ln -s busybox /mnt/bin/cat && cp /lab/blk-data /mnt/data || r FAIL "copy to the disk failed"
sync && umount /mnt || r FAIL "umount failed"
r PASS
EOF
cat >blkroot <<'EOF'
#!/bin/sh
# blkroot — mount the root= device as ext4 and compare its /data with the reference, byte-exact.
r() { echo "GUEST-RESULT $1 blkroot $2"; exit 0; }
root=
for a in $(cat /proc/cmdline); do case "$a" in root=*) root=${a#root=} ;; esac; done
[ -n "$root" ] || r FAIL "no root= on the command line"
mkdir -p /newroot && mount -t ext4 "$root" /newroot || r FAIL "mount -t ext4 $root failed"
grep -q "^$root /newroot ext4 " /proc/mounts || r FAIL "$root is not mounted as ext4"
chroot /newroot /bin/cat /data >/tmp/data.back || r FAIL "cannot run a program from $root"
cmp /tmp/data.back /lab/blk-data || r FAIL "data read back differs"
umount /newroot
r PASS
EOF
chmod +x blkprep blkroot
disk="path=$PWD/disk.img,serial=root0"
guest_boot -t 120 -f blkprep:/checks/blkprep -f data:/lab/blk-data -x --disk -x "$disk" \
    -a lab.check=blkprep
expect_init
expect_guest blkprep
expect_end poweroff
guest_boot -t 120 -f blkroot:/checks/blkroot -f data:/lab/blk-data -x --disk -x "$disk" \
    -a "root=/dev/vda rootfstype=ext4 lab.check=blkroot"
expect_init
expect_guest blkroot
expect_end poweroff
