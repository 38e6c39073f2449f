# pmem — virtio-pmem over virtio-mmio: an ext4 image made with mkfs.ext4 -d (e2fsprogs) is the guest's /dev/pmem0
# (root_device: root=/dev/pmem0 rw is on the command line); the guest mounts it with DAX, reads
# the host's file and writes one that reaches the image on the host. A second, read-only pmem
# mounts and reads, a direct write to it changes nothing, and its image never changes.
# lab: vmm=truce timeout=200 needs=boot-bzimage
command -v mkfs.ext4 >/dev/null || fail "mkfs.ext4 is not in the L1 image"
mkdir -p tree && echo "hello from the host" >tree/hello.txt
truncate -s 32M pmem.img && mkfs.ext4 -F -q -b 4096 -d tree pmem.img ||
    fail "mkfs.ext4 -d could not build the image"
cp pmem.img ro.img || fail "cannot copy the image"
before=$(md5sum ro.img | cut -d' ' -f1)
cat >pmem <<'EOF'
#!/bin/sh
# pmem — /dev/pmem0 mounts with DAX and reads/writes; /dev/pmem1 is read-only underneath.
r() { echo "GUEST-RESULT $1 pmem $2"; exit 0; }
i=0
while [ ! -b /dev/pmem1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/pmem0 ] && [ -b /dev/pmem1 ] ||
    r FAIL "no /dev/pmem0 and /dev/pmem1: $(dmesg | grep -iE 'pmem|nvdimm|nd_' | tail -n 3)"
grep -q "root=/dev/pmem0 rw" /proc/cmdline || r FAIL "no root=/dev/pmem0 rw on the command line"
echo "pmem: queue/dax=$(cat /sys/block/pmem0/queue/dax 2>/dev/null) size=$(cat /sys/block/pmem0/size)"
mkdir -p /mnt /ro
mount -t ext4 -o dax /dev/pmem0 /mnt || r FAIL "mount -o dax /dev/pmem0: $(dmesg | tail -n 1)"
echo "pmem: $(grep pmem0 /proc/mounts)"
grep -qE "^/dev/pmem0 .*dax" /proc/mounts || r FAIL "pmem0 not mounted with dax"
[ "$(cat /mnt/hello.txt)" = "hello from the host" ] || r FAIL "hello.txt: '$(cat /mnt/hello.txt)'"
echo "written by the guest" >/mnt/guest.txt && sync || r FAIL "cannot write /mnt/guest.txt"
umount /mnt || r FAIL "cannot unmount /dev/pmem0"
mount -t ext4 -o ro,dax /dev/pmem1 /ro || r FAIL "mount -o ro,dax /dev/pmem1 failed"
[ "$(cat /ro/hello.txt)" = "hello from the host" ] || r FAIL "pmem1 hello.txt: '$(cat /ro/hello.txt)'"
umount /ro
a=$(dd if=/dev/pmem1 bs=4096 skip=1 count=1 iflag=direct 2>/dev/null | md5sum)
yes overwritten | head -c 4096 >/tmp/junk
dd if=/tmp/junk of=/dev/pmem1 bs=4096 seek=1 count=1 oflag=direct conv=notrunc 2>/dev/null
b=$(dd if=/dev/pmem1 bs=4096 skip=1 count=1 iflag=direct 2>/dev/null | md5sum)
echo "pmem: read-only block 1 before $a after $b"
[ "$a" = "$b" ] || r FAIL "a direct write changed the read-only pmem1"
r PASS
EOF
chmod +x pmem
guest_boot -t 120 -f pmem:/checks/pmem -x --transport -x mmio \
    -x --pmem -x "path=$PWD/pmem.img,root=on" -x --pmem -x "path=$PWD/ro.img,ro=on" \
    -a lab.check=pmem
expect_init
expect_guest pmem
expect_end poweroff
grep -q "written by the guest" pmem.img || fail "the guest's file is not in pmem.img"
[ "$(md5sum ro.img | cut -d' ' -f1)" = "$before" ] || fail "the read-only image changed"
